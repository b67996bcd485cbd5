"""A memory store manager's usage: ``manager.runs(...)`` (one record per run) and
``manager.usage(...)`` (totals per day), with their async twins. Mixed into
``MemoryStoreManager``; each is one pipeline over the storage port (``reverie.ledger.usage``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from langchain_core.runnables import RunnableConfig

from reverie.core.effects import arun, run
from reverie.core.errors import ConfigurationError
from reverie.core.ports import MemoryStorePort
from reverie.extraction.report import RunReport
from reverie.ledger.usage import read_runs, read_usage
from reverie.ledger.usage_totals import DailyUsage

Since = date | datetime | timedelta | None


def since_moment(since: Since) -> datetime | None:
    """``since`` as a UTC moment: a date means its start (UTC), a timedelta that long ago."""
    if since is None:
        return None
    if isinstance(since, timedelta):
        return datetime.now(timezone.utc) - since
    if isinstance(since, datetime):
        return since if since.tzinfo is not None else since.replace(tzinfo=timezone.utc)
    if isinstance(since, date):
        return datetime.combine(since, time(), tzinfo=timezone.utc)
    raise ConfigurationError(
        f"since must be a date, a datetime or a timedelta, got {type(since).__name__}."
    )


def since_day(since: Since) -> date | None:
    moment = since_moment(since)
    return moment.astimezone(timezone.utc).date() if moment is not None else None


class UsageQueriesMixin:
    """``runs`` / ``usage`` on the manager's namespace; mixed into MemoryStoreManager."""

    @property
    def port(self) -> MemoryStorePort:
        raise NotImplementedError

    def get_namespace(self, config: RunnableConfig | None = None) -> tuple[str, ...]:
        raise NotImplementedError

    def runs(
        self,
        since: Since = None,
        *,
        job_id: int | None = None,
        config: RunnableConfig | None = None,
    ) -> list[RunReport]:
        """The usage records of this namespace's runs, oldest first: each run's
        :class:`RunReport` as stored with its memories (``since``: a date, a datetime or a
        timedelta ago; ``job_id``: the runs of one durable job). Records older than a week may
        have been folded into daily totals (see :meth:`usage`)."""
        return run(
            read_runs(
                self.port, self.get_namespace(config), since=since_moment(since), job_id=job_id
            )
        )

    async def aruns(
        self,
        since: Since = None,
        *,
        job_id: int | None = None,
        config: RunnableConfig | None = None,
    ) -> list[RunReport]:
        return await arun(
            read_runs(
                self.port, self.get_namespace(config), since=since_moment(since), job_id=job_id
            )
        )

    def usage(
        self, since: Since = None, *, config: RunnableConfig | None = None
    ) -> list[DailyUsage]:
        """Totals per day (UTC) of this namespace's runs, oldest first, from the day of
        ``since`` on: runs, failed runs, model calls, input and output tokens (per model),
        embedding requests, memories inserted, updated, superseded and deleted."""
        return run(read_usage(self.port, self.get_namespace(config), since=since_day(since)))

    async def ausage(
        self, since: Since = None, *, config: RunnableConfig | None = None
    ) -> list[DailyUsage]:
        return await arun(read_usage(self.port, self.get_namespace(config), since=since_day(since)))
