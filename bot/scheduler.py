"""When digests run: APScheduler's asyncio scheduler with a persistent SQLite job store.

Jobs live in `jobs.sqlite3` in the data directory, so their next run time
survives restarts. A run missed while the bot was down fires once when it comes
back within `grace_seconds` (coalesced: several missed runs become one; the
digest covers everything since the previous one anyway). Jobs are created from
the subscriptions table and never replaced, only rescheduled when a
subscription's time changes — replacing would forget a missed run.

On PostgreSQL (`jobs_url` from `bot.stores`) the jobs are in the shared database, one
table per shard (`jobs_table`): every process schedules every digest in its own table
(APScheduler 3 does not share a job store between schedulers), and the claim in
`posted_digests` lets exactly one of them post each period.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from .subscriptions import Subscription

log = logging.getLogger(__name__)
JOBS_FILE = "jobs.sqlite3"
JOB_PREFIX = "digest-"

# The job store keeps a textual reference to `run_digest_job`, so the job function is
# module-level; it reaches the running bot through this hook, set by `DigestScheduler`.
_poster: Callable[[int], Awaitable[None]] | None = None


async def run_digest_job(subscription_id: int) -> None:
    if _poster is None:
        log.warning("digest #%s is due but no poster is running", subscription_id)
        return
    await _poster(subscription_id)


def trigger_for(sub: Subscription) -> CronTrigger:
    hour, minute = sub.hour_minute
    return CronTrigger(hour=hour, minute=minute, timezone=sub.timezone)


class DigestScheduler:
    def __init__(
        self,
        data_dir: Path,
        poster: Callable[[int], Awaitable[None]],
        *,
        grace_seconds: int = 6 * 3600,
        jobs_url: str | None = None,
        jobs_table: str = "apscheduler_jobs",
    ) -> None:
        self.poster = poster
        url = jobs_url or f"sqlite:///{data_dir / JOBS_FILE}"
        self.scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(url=url, tablename=jobs_table),
                "memory": MemoryJobStore(),  # housekeeping jobs that need not persist
            },
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": grace_seconds,
                "max_instances": 1,
            },
            timezone="UTC",
        )

    def start(self, subscriptions: list[Subscription]) -> None:
        global _poster
        _poster = self.poster
        # Paused start: reconcile jobs with the subscriptions before anything fires.
        self.scheduler.start(paused=True)
        self.sync(subscriptions)
        self.scheduler.resume()

    def sync(self, subscriptions: list[Subscription]) -> None:
        """Add jobs for new subscriptions, reschedule changed ones, drop removed ones."""
        wanted = {f"{JOB_PREFIX}{s.id}": s for s in subscriptions}
        for job in self.scheduler.get_jobs(jobstore="default"):
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                job.remove()
                log.info("removed digest job %s", job.id)
        for job_id, sub in wanted.items():
            trigger = trigger_for(sub)
            job = self.scheduler.get_job(job_id)
            if job is None:
                self.scheduler.add_job(
                    run_digest_job, trigger, id=job_id, args=[sub.id], name=sub.describe()
                )
                log.info("scheduled %s", sub.describe())
            elif str(job.trigger) != str(trigger):
                job.reschedule(trigger)
                log.info("rescheduled %s", sub.describe())

    def every(
        self,
        seconds: float,
        func: Callable[[], object],
        *,
        job_id: str,
        first_run: datetime | None = None,
    ) -> None:
        """Housekeeping on the same loop (kept in memory: it is re-added at every start).

        `first_run` None means one interval from now, as APScheduler does by default.
        """
        extra = {"next_run_time": first_run} if first_run else {}
        self.scheduler.add_job(
            func, "interval", seconds=seconds, id=job_id, jobstore="memory", **extra
        )

    def next_run(self, sub_id: int) -> datetime | None:
        job = self.scheduler.get_job(f"{JOB_PREFIX}{sub_id}")
        return job.next_run_time if job else None

    def shutdown(self) -> None:
        global _poster
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _poster = None
