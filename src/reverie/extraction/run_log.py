"""The log lines of a manager run, on the ``reverie.extraction`` logger.

One line per run at INFO says what it did and cost, as ``key=value`` pairs that log search
tools parse; the whole report rides along as ``extra={"reverie_run": {...}}`` for JSON log
formatters. What needs the user's attention is logged at WARNING with what to change: messages
cut to fit the token budget, memories the budget kept out of the prompt, a run that gave up
because memories kept changing, a run that failed. (Replies no operation could be read from
are warned about where they happen, in ``engine``.)
"""

from __future__ import annotations

import logging

from reverie.extraction.report import RunReport

logger = logging.getLogger("reverie.extraction")


def summary(report: RunReport) -> str:
    """``namespace=memories/alice thread=t1 ops=+1 ~0 >0 -0 calls=1 tokens=812/95 ms=231.4``."""
    parts = [
        f"namespace={'/'.join(report.namespace) or '-'}",
        f"thread={report.thread_id or '-'}",
        f"ops=+{report.inserted} ~{report.updated} >{report.superseded} -{report.deleted}",
        f"calls={report.calls}",
        f"tokens={report.input_tokens}/{report.output_tokens}"
        + ("~" if report.tokens_estimated else ""),
        f"ms={report.duration_ms:.1f}",
    ]
    if report.job_id is not None:
        parts.append(f"job={report.job_id}")
    if report.error is not None:
        parts.append(f"error={report.error.split(':', 1)[0]}")
    elif report.nothing_stored is not None:
        parts.append(f"nothing_stored={report.nothing_stored}")
    return " ".join(parts)


def log_run(report: RunReport) -> None:
    """The run's INFO line, and a WARNING for each thing the user should act on."""
    if report.truncated_messages:
        logger.warning(
            "%d message(s) longer than the token budget were cut to fit it (%s); raise "
            "token_budget to keep them whole.",
            report.truncated_messages,
            _where(report),
        )
    if report.memories_not_shown:
        logger.warning(
            "%d related memories were left out of the prompt by the token budget (%s): the "
            "model could not update them and may insert duplicates; raise token_budget or lower "
            "query_limit.",
            report.memories_not_shown,
            _where(report),
        )
    if report.error is None:
        if logger.isEnabledFor(logging.INFO):  # the line costs more than the check
            logger.info("memory run %s", summary(report), extra={"reverie_run": report.to_dict()})
        return
    advice = (
        " Memories kept changing under it (stale versions): run it again, or route the "
        "namespace's writers through one ReflectionExecutor."
        if report.error.startswith("ConflictError")
        else ""
    )
    logger.warning(
        "memory run failed %s.%s", summary(report), advice, extra={"reverie_run": report.to_dict()}
    )


def _where(report: RunReport) -> str:
    return f"namespace {'/'.join(report.namespace) or '-'}, thread {report.thread_id or '-'}"
