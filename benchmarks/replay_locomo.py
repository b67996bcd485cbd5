"""Replay a LoCoMo conversation turn by turn through Reverie and LangMem and count the tokens sent.

Each conversation is fed as an agent would feed it: after every exchange the memory manager is
called, either with the whole thread so far or with only the latest exchange; and, with debouncing,
once per LoCoMo session (when the conversation pauses). Both systems get the same scripted "oracle"
model, which reads each system's own prompt to find the conversation it is asked to consolidate and
the memories it is shown, and makes the same decision for both: one memory per exchange it has not
memorised yet, with a fact derived deterministically from the exchange's text. So both systems end
with the same memories, and any difference in tokens comes from what each one chooses to send.

Tokens are counted with one offline tokenizer for every system: langchain-core's
``count_tokens_approximately`` on the exact messages each system sends, plus the JSON of the tool
schemas it binds (about 4 characters a token), as recorded by ``reverie.testing.ScriptedChatModel``.

Run it in the environment that has LangMem 0.0.30 (``bash benchmarks/langmem_env.sh``):
``.bench/langmem-venv/bin/python -m benchmarks.replay_locomo [--quick]``. ``python -m benchmarks
replay_locomo`` from another environment re-runs it there when that environment exists.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.store.memory import InMemoryStore

from benchmarks.common import markdown_table, quick_mode, write_results
from reverie.testing import HashingEmbeddings, ScriptedChatModel, ScriptedRequest, tool_call

ROOT = Path(__file__).resolve().parents[1]
BENCH_PYTHON = ROOT / ".bench" / "langmem-venv" / "bin" / "python"
USER = "caroline"
NAMESPACE = ("memories", USER)
QUICK_EXCHANGES = 40
CHECKPOINTS = (10, 100)
MODES = (
    ("whole", "immediate"),
    ("latest", "immediate"),
    ("whole", "debounced"),
    ("latest", "debounced"),
)
TARGETS = {"whole": 0.10, "latest": 0.60}
# Debounce delay when the replay goes through the executors: submissions within a session come
# back to back (each replaces the pending one); a session end waits for the run, like a pause would.
DEBOUNCE_SECONDS = 0.05


# ----------------------------------------------------------------------------- the conversation


def locomo_dir() -> Path:
    configured = os.environ.get("REVERIE_LOCOMO_DIR")
    path = Path(configured) if configured else ROOT.parent / "shared" / "data" / "locomo"
    if not (path / "locomo10.json").is_file():
        raise FileNotFoundError(
            f"LoCoMo data not found at {path}/locomo10.json. Put the LoCoMo folder next to the "
            "repository (../shared/data/locomo) or set REVERIE_LOCOMO_DIR."
        )
    return path


@dataclass(frozen=True)
class Exchange:
    """One user turn and the reply to it (the last exchange may carry a trailing turn)."""

    number: int  # 1-based
    messages: list[dict[str, str]]
    session_end: bool  # the conversation pauses after this exchange
    needle: str  # a piece of the exchange's text that identifies it in any rendering
    fact: str  # what the oracle memorises for it


def session_time(text: str) -> datetime:
    """A LoCoMo ``session_N_date_time`` ("1:56 pm on 8 May, 2023") as a UTC datetime (the data
    gives no zone)."""
    moment = datetime.strptime(" ".join(text.split()), "%I:%M %p on %d %B, %Y")
    return moment.replace(tzinfo=timezone.utc)


def _turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", ""))
    if turn.get("blip_caption"):
        text = f"{text} [shares {turn['blip_caption']}]".strip()
    return f"{turn['speaker']}: {text}"


def load_exchanges(sample: int = 0, limit: int | None = None) -> tuple[str, list[Exchange]]:
    samples = json.loads((locomo_dir() / "locomo10.json").read_text())
    conversation = samples[sample]["conversation"]
    sessions = sorted(
        (int(k.split("_")[1]), k)
        for k in conversation
        if k.startswith("session_") and k.count("_") == 1
    )
    turns: list[tuple[dict[str, Any], bool]] = []
    for _, key in sessions:
        session = conversation[key]
        # Each turn carries its session's date, as a chat app's messages carry their time.
        when = session_time(conversation[f"{key}_date_time"]).isoformat()
        turns += [({**turn, "when": when}, i == len(session) - 1) for i, turn in enumerate(session)]
    # Consecutive turns pair up as (user, assistant) exchanges, as an agent loop would see them.
    count = len(turns) // 2
    raw: list[list[tuple[dict[str, Any], bool]]] = [turns[2 * i : 2 * i + 2] for i in range(count)]
    raw[-1] += turns[2 * count :]
    texts = [[_turn_text(t) for t, _ in pair] for pair in raw]
    exchanges = []
    for number, (pair, lines) in enumerate(zip(raw, texts, strict=True), start=1):
        messages = [
            {
                "role": "user" if i == 0 else "assistant",
                "content": line,
                "id": turn["dia_id"],
                "created_at": turn["when"],
            }
            for i, ((turn, _), line) in enumerate(zip(pair, lines, strict=True))
        ]
        first = lines[0]
        exchanges.append(
            Exchange(
                number=number,
                messages=messages,
                session_end=any(end for _, end in pair),
                needle=first,
                fact=f"[{number}] {first[:120]}",
            )
        )
    if limit is not None:
        exchanges = exchanges[:limit]
    return samples[sample]["sample_id"], exchanges


# ----------------------------------------------------------------------------- the oracle


@dataclass
class View:
    """What a system's prompt asks the model to consolidate, and the memories it shows."""

    conversation: str
    shown: list[str]


def reverie_view(request: ScriptedRequest) -> View:
    human = next(m.text for m in request.messages if m.type == "human")
    conversation = human.split("New conversation:", 1)[1] if "New conversation:" in human else ""
    stored = human.split("Stored memories:", 1)[-1].split("\n\n", 1)[0]
    shown = re.findall(r"^\[\w+\] (.*)$", stored, flags=re.MULTILINE)
    return View(conversation, shown)


_INSTANCE = re.compile(r'<instance id=\S+ schema_type="\w+">\n(.*?)\n</instance>', re.DOTALL)


def langmem_view(request: ScriptedRequest) -> View:
    text = request.text
    match = re.search(r"<session_[\w-]+>(.*?)</session_[\w-]+>", text, flags=re.DOTALL)
    shown = []
    for raw in _INSTANCE.findall(text):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue
        shown.append(value.get("content", "") if isinstance(value, dict) else str(value))
    return View(match.group(1) if match else "", shown)


class Oracle:
    """Makes the same memory decisions for any system, reading that system's prompt format."""

    def __init__(self, exchanges: list[Exchange], view: Callable[[ScriptedRequest], View]) -> None:
        self.exchanges = exchanges
        self.view = view
        self.memorised: set[str] = set()
        self.seconds = 0.0  # time spent deciding, subtracted from the systems' wall time

    def __call__(self, request: ScriptedRequest) -> AIMessage | list[dict[str, Any]]:
        start = time.perf_counter()
        try:
            view = self.view(request)
            known = self.memorised | set(view.shown)
            calls = []
            for exchange in self.exchanges:
                if exchange.fact not in known and exchange.needle in view.conversation:
                    calls.append(tool_call("Memory", {"content": exchange.fact}))
                    self.memorised.add(exchange.fact)
            return calls if calls else AIMessage(content="")
        finally:
            self.seconds += time.perf_counter() - start


# ----------------------------------------------------------------------------- the systems


def _store() -> InMemoryStore:
    return InMemoryStore(index={"dims": 64, "embed": HashingEmbeddings(64)})


def _reverie(model: ScriptedChatModel, store: InMemoryStore) -> Any:
    from reverie import create_memory_store_manager

    return create_memory_store_manager(model, store=store)


def _langmem(model: ScriptedChatModel, store: InMemoryStore) -> Any:
    from langmem import create_memory_store_manager

    return create_memory_store_manager(model, store=store)


SYSTEMS: dict[str, tuple[Callable[..., Any], Callable[[ScriptedRequest], View]]] = {
    "reverie": (_reverie, reverie_view),
    "langmem": (_langmem, langmem_view),
}


def executors_available() -> bool:
    """Both systems go through their own ReflectionExecutor when Reverie has one."""
    try:
        from reverie.executor import ReflectionExecutor  # noqa: F401
    except ImportError:
        return False
    return True


def _executor(system: str, manager: Any, store: InMemoryStore) -> Any:
    if system == "reverie":
        from reverie.executor import ReflectionExecutor

        return ReflectionExecutor(manager, store=store)
    import langmem

    return langmem.ReflectionExecutor(manager, store=store)


class _Direct:
    """Calls the manager in the caller's thread: what an executor with no debounce amounts to."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    def submit(self, payload: Any, config: Any, *, after_seconds: float = 0) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        future.set_result(self.manager.invoke(payload, config))
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


@dataclass
class Replay:
    system: str
    feed: str
    pacing: str
    calls: int = 0
    invocations: int = 0
    input_tokens: int = 0
    input_chars: int = 0
    message_chars: int = 0  # input_chars without the tool schemas
    output_tokens: int = 0
    wall_s: float = 0.0
    overhead_ms_per_invocation: float = 0.0
    # exchange number -> input tokens of the call(s) made when that exchange was submitted
    per_exchange: dict[int, int] = field(default_factory=dict)
    memories: list[str] = field(default_factory=list)


def replay(
    system: str, feed: str, pacing: str, exchanges: list[Exchange], *, through_executor: bool
) -> Replay:
    """Feed the conversation to one system; ``pacing`` "debounced" waits only at session ends.

    Through the executors, a debounced replay submits after every exchange with a short delay and
    waits at each session end; without them it calls the manager once per session end (the one
    run a debounce would let through). Either way the payload is the whole thread or, for the
    latest-exchange feed, the exchanges since the last run.
    """
    build, view = SYSTEMS[system]
    oracle = Oracle(exchanges, view)
    model = ScriptedChatModel(responder=oracle)
    store = _store()
    manager = build(model, store)
    executor = _executor(system, manager, store) if through_executor else _Direct(manager)
    delay = DEBOUNCE_SECONDS if pacing == "debounced" and through_executor else 0
    config = {"configurable": {"langgraph_user_id": USER, "thread_id": "locomo-thread"}}
    result = Replay(system, feed, pacing)
    thread: list[dict[str, str]] = []
    pending: list[dict[str, str]] = []
    counted = 0
    start = time.perf_counter()
    try:
        for exchange in exchanges:
            thread += exchange.messages
            pending += exchange.messages
            flush = pacing == "immediate" or exchange.session_end or exchange is exchanges[-1]
            if not flush and not delay:
                continue
            payload = {"messages": list(thread) if feed == "whole" else list(pending)}
            future = executor.submit(payload, config, after_seconds=delay)
            if not flush:
                continue
            future.result()
            pending = []
            result.invocations += 1
            calls = model.calls
            result.per_exchange[exchange.number] = sum(c.input_tokens for c in calls[counted:])
            counted = len(calls)
    finally:
        executor.shutdown(wait=True)
    result.wall_s = time.perf_counter() - start - delay * result.invocations
    calls = model.calls
    result.calls = len(calls)
    result.input_tokens = sum(c.input_tokens for c in calls)
    result.input_chars = sum(c.input_chars for c in calls)
    result.message_chars = sum(c.input_chars - c.tool_schema_chars for c in calls)
    result.output_tokens = sum(c.output_tokens for c in calls)
    result.overhead_ms_per_invocation = (
        (result.wall_s - oracle.seconds) * 1000 / max(result.invocations, 1)
    )
    result.memories = sorted(
        item.value["content"]["content"]
        for item in store.search(NAMESPACE, limit=100_000)
        if tuple(item.namespace) == NAMESPACE
    )
    return result


def at_exchange(result: Replay, number: int) -> int | None:
    """Input tokens of the call that consolidated exchange ``number`` (its flush, if debounced)."""
    for submitted in sorted(result.per_exchange):
        if submitted >= number:
            return result.per_exchange[submitted]
    return None


# ----------------------------------------------------------------------------- reporting


def run(quick: bool) -> None:
    try:
        import langmem  # noqa: F401
    except ModuleNotFoundError:
        _run_in_bench_env(quick)
        return
    sample_id, exchanges = load_exchanges(0, QUICK_EXCHANGES if quick else None)
    through_executor = executors_available()
    last = exchanges[-1].number
    checkpoints = [n for n in CHECKPOINTS if n < last] + [last]
    results: dict[tuple[str, str], dict[str, Replay]] = {}
    for feed, pacing in MODES:
        results[(feed, pacing)] = {
            name: replay(name, feed, pacing, exchanges, through_executor=through_executor)
            for name in ("reverie", "langmem")
        }
        r = results[(feed, pacing)]
        print(
            f"{feed}/{pacing}: reverie {r['reverie'].input_tokens:,} tokens, "
            f"langmem {r['langmem'].input_tokens:,} tokens",
            flush=True,
        )

    headers = [
        "caller passes",
        "pacing",
        "system",
        "calls",
        *[f"in tok @ex {n}" for n in checkpoints],
        "input tokens",
        "input chars",
        "chars w/o tool schemas",
        "output tokens",
        "overhead ms/run",
        "Reverie/LangMem input",
        "same memories",
    ]
    rows = []
    summary: dict[str, Any] = {}
    for (feed, pacing), pair in results.items():
        rev, lm = pair["reverie"], pair["langmem"]
        ratio = rev.input_tokens / lm.input_tokens if lm.input_tokens else float("nan")
        same = rev.memories == lm.memories and len(rev.memories) == len(exchanges)
        for res in (rev, lm):
            rows.append(
                [
                    "whole thread" if feed == "whole" else "latest exchange",
                    "every exchange" if pacing == "immediate" else "per session (debounced)",
                    res.system,
                    res.calls,
                    *[at_exchange(res, n) for n in checkpoints],
                    res.input_tokens,
                    res.input_chars,
                    res.message_chars,
                    res.output_tokens,
                    round(res.overhead_ms_per_invocation, 2),
                    f"{ratio:.3f}" if res is rev else "",
                    ("yes" if same else "NO") if res is rev else "",
                ]
            )
        summary[f"{feed}/{pacing}"] = {
            "ratio_input_tokens": ratio,
            "ratio_input_chars": rev.input_chars / lm.input_chars if lm.input_chars else None,
            "same_memories": same,
            "memories": len(rev.memories),
            "target": TARGETS[feed] if pacing == "immediate" else None,
            "meets_target": ratio <= TARGETS[feed] if pacing == "immediate" else None,
            "systems": {
                name: {k: v for k, v in vars(res).items() if k != "memories"}
                for name, res in pair.items()
            },
        }
    table = markdown_table(headers, rows)
    flat = {
        f"{feed}": [at_exchange(results[(feed, "immediate")]["reverie"], n) for n in checkpoints]
        for feed in ("whole", "latest")
    }
    notes = [
        "",
        f"Conversation {sample_id} (LoCoMo), {len(exchanges)} exchanges"
        f"{' (quick mode: first ' + str(QUICK_EXCHANGES) + ')' if quick else ''}; "
        "both systems with default settings, InMemoryStore with the same 64-dim hashing embedder.",
        "Tokens: langchain-core `count_tokens_approximately` on the exact messages plus the tool "
        "schema JSON / 4, for every system (one offline tokenizer).",
        (
            "Driven through each system's ReflectionExecutor: debounce off = submit after every "
            f"exchange and wait; debounce on = submit after every exchange with after_seconds="
            f"{DEBOUNCE_SECONDS}, wait at each LoCoMo session end (the conversation's pause)."
            if through_executor
            else "Driven by direct manager calls (Reverie has no ReflectionExecutor in this "
            "build): debounce off = one call per exchange; debounce on = one call per LoCoMo "
            "session end, the one run a debounce lets through; identical for both systems."
        )
        + " Debounced payload: the whole thread, or the exchanges since the last run.",
        "Targets (every exchange): whole thread <= 10% of LangMem's input, latest exchange <= 60%: "
        + ", ".join(
            f"{feed} {summary[f'{feed}/immediate']['ratio_input_tokens']:.3f} "
            f"({'met' if summary[f'{feed}/immediate']['meets_target'] else 'MISSED'})"
            for feed in ("whole", "latest")
        )
        + (" (quick mode: the targets are meant for the full replay)." if quick else "."),
        "Reverie tokens per call at exchanges "
        + ", ".join(map(str, checkpoints))
        + ": "
        + "; ".join(f"{k} {v}" for k, v in flat.items())
        + ".",
        "Overhead: wall time per run minus the scripted model's decision time and the debounce "
        "delay: store, retrieval, prompt building, parsing and executor scheduling (LangMem's "
        "includes trustcall's graph and its executor's polling).",
    ]
    write_results(
        "replay_locomo",
        {
            "sample": sample_id,
            "exchanges": len(exchanges),
            "quick": quick,
            "tokenizer": "langchain_core.messages.utils.count_tokens_approximately",
            "driver": "ReflectionExecutor" if through_executor else "direct calls",
            "checkpoints": checkpoints,
            "flat_per_exchange_reverie": flat,
            "modes": summary,
        },
        table + "\n" + "\n".join(notes),
    )


def _run_in_bench_env(quick: bool) -> None:
    """LangMem lives only in the benchmark's own environment; run there when it exists."""
    if not BENCH_PYTHON.exists():
        raise RuntimeError(
            "LangMem 0.0.30 is not installed here. Create the benchmark environment with "
            "`bash benchmarks/langmem_env.sh`, then run "
            "`.bench/langmem-venv/bin/python -m benchmarks.replay_locomo`."
        )
    args = [str(BENCH_PYTHON), "-m", "benchmarks.replay_locomo"] + (["--quick"] if quick else [])
    subprocess.run(args, cwd=ROOT, check=True)


if __name__ == "__main__":
    run(quick_mode() or "--quick" in sys.argv[1:])
