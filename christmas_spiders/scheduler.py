"""Cron schedules for crawls, run through scrapyd (which has none of its own).

``python -m christmas_spiders.scheduler`` reads the entries of config key
``schedules`` (``name``, ``spider``, ``cron``, ``args``, optional ``workers``)
and, when an entry's slot comes, calls scrapyd's ``schedule.json``. Rules:

* an entry whose spider is still pending or running in scrapyd with the same
  arguments is skipped for that slot (logged), never started twice;
* after downtime, an entry that missed one or more slots runs once, not once
  per missed slot (the last slot handled per entry is kept in a JSON state file);
* scrapyd down or answering 5xx: the slot stays due and is retried with
  exponential backoff; the process keeps running and says so in its log.

Argument values may use ``{year}`` and ``{previous_year}`` (of the slot's date),
so "recent years" entries follow the calendar. ``workers: N`` starts N jobs on
one crawl session (same ``crawl_id``) for a Redis-shared crawl.

Once a crawl it started has ended, the scheduler logs its verdict, once: the session's
verdict from ``crawl_runs`` (with ``database_url`` configured), else the verdict line
that ends each of its jobs' logs on scrapyd; a job that ended with neither (refused
before its crawl started) is logged as verdict ``unknown``, pointing at its log.

``--once`` evaluates every entry now and exits (0: nothing failed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from croniter import croniter

from christmas_spiders.config import get_config

logger = logging.getLogger("christmas_spiders.scheduler")


# Entry names go into scrapyd job ids "<name>.<args digest>.<slot>.<worker>".
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# The line `scrapy crawl` ends a job's log with (christmas_spiders/commands/crawl.py).
_VERDICT_LINE = re.compile(
    r"\[christmas_spiders\.commands\.crawl\] (?:INFO|ERROR): "
    r"(crawl (?:verdict (\w+)|ended with reason|finished \(not judged).*)$",
    re.MULTILINE,
)
# Verdict lines of a job that exited 0 (a pass, a sibling judging, no store to judge by).
_PASSING_LINE = re.compile(r"crawl (?:verdict (?:passed|pending)|finished \(not judged)")


class ScheduleError(ValueError):
    """A schedule entry in the config is malformed."""


class ScrapydUnavailable(RuntimeError):
    """scrapyd did not answer, or answered with a server error: worth retrying."""


class ScrapydRefused(RuntimeError):
    """scrapyd answered ``status: error`` (unknown project or spider...): retrying won't help."""


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    spider: str
    cron: str
    args: dict[str, str] = field(default_factory=dict)
    workers: int = 1

    @classmethod
    def from_config(cls, raw: Any) -> ScheduleEntry:
        if not isinstance(raw, dict):
            raise ScheduleError(f"schedule entry must be an object, got {raw!r}")
        missing = [key for key in ("name", "spider", "cron") if not raw.get(key)]
        if missing:
            raise ScheduleError(f"schedule entry {raw!r} lacks {', '.join(missing)}")
        if not _NAME.fullmatch(str(raw["name"])):
            raise ScheduleError(
                f"schedule name {raw['name']!r}: use letters, digits, '_' and '-' only"
            )
        if not croniter.is_valid(str(raw["cron"])):
            raise ScheduleError(f"schedule {raw['name']!r}: invalid cron {raw['cron']!r}")
        args = raw.get("args") or {}
        if not isinstance(args, dict):
            raise ScheduleError(f"schedule {raw['name']!r}: args must be an object")
        workers = int(raw.get("workers", 1))
        if workers < 1:
            raise ScheduleError(f"schedule {raw['name']!r}: workers must be >= 1")
        return cls(
            str(raw["name"]),
            str(raw["spider"]),
            str(raw["cron"]),
            {str(k): str(v) for k, v in args.items()},
            workers,
        )

    def args_for(self, slot: datetime) -> dict[str, str]:
        values = {"year": slot.year, "previous_year": slot.year - 1}
        return {key: value.format(**values) for key, value in self.args.items()}


def args_digest(spider: str, args: dict[str, str]) -> str:
    """A short digest of (spider, arguments without crawl_id), carried in our job ids."""
    relevant = {k: v for k, v in sorted(args.items()) if k not in ("crawl_id", "_version")}
    blob = json.dumps([spider, relevant], sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:10]


class ScrapydClient:
    def __init__(
        self, url: str, project: str, username: str | None, password: str | None, timeout: float
    ) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.auth = (username, password) if username else None
        self.timeout = timeout

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = requests.request(
                method,
                f"{self.url}/{endpoint}",
                auth=self.auth,
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise ScrapydUnavailable(f"scrapyd at {self.url} unreachable: {exc}") from exc
        if response.status_code == 401:
            raise ScrapydRefused(
                f"scrapyd at {self.url} refused the credentials (HTTP 401): set "
                "scrapyd.username/password (SCRAPYD_USERNAME/SCRAPYD_PASSWORD)"
            )
        if response.status_code >= 500:
            raise ScrapydUnavailable(f"scrapyd at {self.url} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ScrapydUnavailable(
                f"scrapyd at {self.url}/{endpoint} answered HTTP {response.status_code} "
                "with no JSON"
            ) from exc
        if body.get("status") != "ok":
            raise ScrapydRefused(f"scrapyd {endpoint}: {body.get('message', body)}")
        return body

    def jobs(self) -> dict[str, Any]:
        return self._call("GET", "listjobs.json", params={"project": self.project})

    def log_text(self, log_url: str) -> str:
        """A job's log, from the path ``listjobs.json`` gives (``/logs/...``)."""
        try:
            response = requests.get(
                f"{self.url}/{log_url.lstrip('/')}", auth=self.auth, timeout=self.timeout
            )
            if response.status_code == 404:
                return ""  # the job ended before its log file was opened
            response.raise_for_status()
        except requests.RequestException as exc:
            raise ScrapydUnavailable(f"scrapyd log {log_url} unreadable: {exc}") from exc
        return response.text

    def schedule(self, spider: str, jobid: str, args: dict[str, str]) -> str:
        data = {"project": self.project, "spider": spider, "jobid": jobid, **args}
        return str(self._call("POST", "schedule.json", data=data)["jobid"])


class StateFile:
    """``{entry name: {"last_slot": iso, "last_job": ..., "last_status": ...}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise ScheduleError(
                f"scheduler state file {self.path} is unreadable ({exc}); fix or remove it"
            ) from exc
        return data if isinstance(data, dict) else {}

    def save(self, state: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".scheduler-state-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.path)


class CronScheduler:
    def __init__(
        self,
        entries: list[ScheduleEntry],
        client: ScrapydClient,
        state: StateFile,
        timezone: str = "UTC",
        retry_initial: float = 5.0,
        retry_max: float = 300.0,
        poll_seconds: float = 30.0,
    ) -> None:
        names = [entry.name for entry in entries]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ScheduleError(f"schedule names must be unique: {', '.join(duplicated)}")
        self.entries = entries
        self.client = client
        self.state_file = state
        self.tz = ZoneInfo(timezone)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        #: crawl_id -> (status, reason) of the crawl's session verdict, or None where the
        #: database has none; None without a database configured: the jobs' logs have it.
        self.read_verdict: Callable[[str], tuple[str, str] | None] | None = None

    def log_verdicts(self, state: dict[str, dict[str, Any]]) -> bool:
        """Log, once, the verdict of each crawl this scheduler started that has one;
        returns whether ``state`` changed.

        The verdict is the session's, from ``crawl_runs``. A crawl with none there (no
        database configured, or its jobs ended before recording a run: a bad argument, a
        database away) gets its jobs' verdict lines once scrapyd lists every job of it
        as finished, so a crawl that failed that way is not passed over in silence."""
        changed = False
        unrecorded: list[tuple[str, dict[str, Any]]] = []
        for name, record in state.items():
            crawl_id = record.get("crawl_id")
            if not crawl_id or record.get("verdict_of") == crawl_id:
                continue
            try:
                verdict = self.read_verdict(crawl_id) if self.read_verdict else None
            except Exception as exc:  # the database is optional here: never stop the cron
                logger.debug("verdict of crawl %s not readable: %s", crawl_id, exc)
                continue
            if verdict is None or verdict[0] == "unknown":
                unrecorded.append((name, record))
                continue
            if verdict[0] == "running":
                continue
            self._log_verdict(name, record, *verdict)
            changed = True
        if unrecorded:
            try:
                changed |= self._log_job_verdicts(unrecorded)
            except (ScrapydUnavailable, ScrapydRefused) as exc:
                logger.debug("job logs not readable now: %s", exc)
        return changed

    def _log_verdict(self, name: str, record: dict[str, Any], status: str, reason: str) -> None:
        log = logger.info if status == "passed" else logger.warning
        log("%s: crawl %s verdict %s: %s", name, record["crawl_id"], status, reason)
        record.update(
            verdict_of=record["crawl_id"], last_verdict=status, last_verdict_reason=reason
        )

    def _log_job_verdicts(self, unrecorded: list[tuple[str, dict[str, Any]]]) -> bool:
        finished = {job.get("id"): job for job in self.client.jobs().get("finished", [])}
        changed = False
        for name, record in unrecorded:
            job_ids = record.get("jobs") or [record.get("last_job")]
            if not all(job_id in finished for job_id in job_ids):
                continue  # pending or running (or not listed yet)
            lines = []
            for job_id in job_ids:
                log_url = finished[job_id].get("log_url")
                found = _VERDICT_LINE.findall(self.client.log_text(log_url)) if log_url else []
                lines.append((job_id, log_url, found[-1] if found else None))
            if all(line is not None for _, _, line in lines):
                texts = [line[0] for _, _, line in lines if line is not None]
                bad = [text for text in texts if not _PASSING_LINE.match(text)]
                status = "failed" if bad else "passed"
                reason = "; ".join(bad or texts[-1:])
                self._log_verdict(name, record, status, f"(job log) {reason}")
            else:
                silent = ", ".join(f"{job} ({url})" for job, url, line in lines if line is None)
                recorded = "no crawl run recorded and " if self.read_verdict else ""
                self._log_verdict(
                    name,
                    record,
                    "unknown",
                    f"{recorded}no verdict in the log of job {silent}: it ended before its "
                    "crawl did (scrapyd's log has its exit status)",
                )
            changed = True
        return changed

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CronScheduler:
        scrapyd = config["scrapyd"]
        options = config["scheduler"]
        client = ScrapydClient(
            scrapyd["url"],
            scrapyd["project"],
            scrapyd.get("username"),
            scrapyd.get("password"),
            float(options["request_timeout_seconds"]),
        )
        scheduler = cls(
            [ScheduleEntry.from_config(raw) for raw in config.get("schedules") or []],
            client,
            StateFile(Path(options["state_file"])),
            timezone=options["timezone"],
            retry_initial=float(options["retry_initial_seconds"]),
            retry_max=float(options["retry_max_seconds"]),
            poll_seconds=float(options["poll_seconds"]),
        )
        if config.get("database_url"):
            scheduler.read_verdict = _database_verdicts(str(config["database_url"]))
        return scheduler

    # --- deciding -------------------------------------------------------------------

    def due_slots(self, entry: ScheduleEntry, last: datetime, now: datetime) -> list[datetime]:
        """Slots of ``entry`` in (last, now], oldest first (capped: we only need to count)."""
        itr = croniter(entry.cron, last.astimezone(self.tz))
        slots: list[datetime] = []
        while len(slots) < 1000:
            slot = itr.get_next(datetime)
            if slot > now:
                break
            slots.append(slot)
        return slots

    def next_slot(self, entry: ScheduleEntry, now: datetime) -> datetime:
        return croniter(entry.cron, now.astimezone(self.tz)).get_next(datetime)

    def _overlapping_job(
        self, entry: ScheduleEntry, digest: str, jobs: dict[str, Any]
    ) -> str | None:
        for job in jobs.get("pending", []):
            args = {k: str(v) for k, v in (job.get("args") or {}).items()}
            if job.get("spider") == entry.spider and args_digest(entry.spider, args) == digest:
                return f"pending job {job.get('id')}"
        for job in jobs.get("running", []):
            if job.get("spider") != entry.spider:
                continue
            job_id = str(job.get("id", ""))
            ours = job_id.count(".") == 3
            if not ours or job_id.split(".")[1] == digest:
                # A running job started elsewhere has unknown arguments: assume the same.
                return f"running job {job_id}" + ("" if ours else " (arguments unknown)")
        return None

    def run_entry(self, entry: ScheduleEntry, slot: datetime, missed: int) -> dict[str, Any]:
        """Schedule one slot of ``entry``; raises ScrapydUnavailable to be retried."""
        args = entry.args_for(slot)
        digest = args_digest(entry.spider, args)
        overlap = self._overlapping_job(entry, digest, self.client.jobs())
        if overlap:
            logger.info(
                "%s: slot %s skipped: %s of spider %s with the same arguments %s",
                entry.name,
                slot.isoformat(),
                overlap,
                entry.spider,
                args,
            )
            return {"last_status": "skipped", "last_reason": overlap}
        stamp = slot.astimezone(UTC).strftime("%Y%m%dT%H%M")
        crawl_id = f"{entry.name}-{stamp}"
        jobs = []
        for worker in range(1, entry.workers + 1):
            jobid = f"{entry.name}.{digest}.{stamp}.{worker}"
            jobs.append(self.client.schedule(entry.spider, jobid, {**args, "crawl_id": crawl_id}))
        logger.info(
            "%s: slot %s%s -> scheduled %s (spider %s, args %s, crawl_id %s)",
            entry.name,
            slot.isoformat(),
            f" (missed {missed} slots, running once)" if missed > 1 else "",
            ", ".join(jobs),
            entry.spider,
            args,
            crawl_id,
        )
        return {
            "last_status": "scheduled",
            "last_job": jobs[-1],
            "jobs": jobs,
            "crawl_id": crawl_id,
        }

    def tick(self, now: datetime | None = None) -> tuple[int, int]:
        """Evaluate every entry once. Returns (slots handled, slots left due by errors)."""
        now = now or datetime.now(UTC)
        state = self.state_file.load()
        if self.log_verdicts(state):
            self.state_file.save(state)
        handled = failed = 0
        for entry in self.entries:
            record = state.get(entry.name)
            if record is None or "last_slot" not in record:
                # First sight of this entry: start counting from now, run at its next slot.
                state[entry.name] = {"last_slot": now.isoformat(), "last_status": "new"}
                logger.info(
                    "%s: new entry (%s), first run at %s",
                    entry.name,
                    entry.cron,
                    self.next_slot(entry, now).isoformat(),
                )
                self.state_file.save(state)
                continue
            last = datetime.fromisoformat(record["last_slot"])
            slots = self.due_slots(entry, last, now)
            if not slots:
                logger.debug("%s: not due; next at %s", entry.name, self.next_slot(entry, now))
                continue
            slot = slots[-1]
            if len(slots) > 1:
                logger.warning(
                    "%s: %d slots missed since %s (scheduler or scrapyd down); running once",
                    entry.name,
                    len(slots),
                    last.isoformat(),
                )
            try:
                outcome = self.run_entry(entry, slot, len(slots))
            except ScrapydRefused as exc:
                logger.error("%s: slot %s not scheduled: %s", entry.name, slot.isoformat(), exc)
                outcome = {"last_status": "refused", "last_reason": str(exc)}
                failed += 1
            except ScrapydUnavailable:
                failed += 1
                raise
            state[entry.name] = {"last_slot": slot.isoformat(), **outcome}
            self.state_file.save(state)
            handled += 1
        return handled, failed

    # --- running --------------------------------------------------------------------

    def tick_with_retries(self, max_attempts: int | None = None) -> bool:
        """Tick; while scrapyd is unavailable, retry with exponential backoff."""
        delay = self.retry_initial
        attempt = 0
        while not self.stop_event.is_set():
            attempt += 1
            try:
                _, failed = self.tick()
                return failed == 0
            except ScrapydUnavailable as exc:
                if max_attempts is not None and attempt >= max_attempts:
                    logger.error(
                        "%s; giving up after %d attempts, due slots stay due for the next run",
                        exc,
                        attempt,
                    )
                    return False
                logger.warning("%s; due slots stay due, retry %d in %.0fs", exc, attempt, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.retry_max)
        return False

    def run_forever(self) -> None:
        logger.info(
            "scheduler started: %d entries, scrapyd %s, state %s",
            len(self.entries),
            self.client.url,
            self.state_file.path,
        )
        now = datetime.now(UTC)
        for entry in self.entries:
            logger.info(
                "%s: spider %s, cron %r, args %s, next slot %s",
                entry.name,
                entry.spider,
                entry.cron,
                entry.args,
                self.next_slot(entry, now).isoformat(),
            )
        while not self.stop_event.is_set():
            self.tick_with_retries()
            now = datetime.now(UTC)
            upcoming = [self.next_slot(entry, now) for entry in self.entries]
            wait = self.poll_seconds
            if upcoming:
                wait = min(wait, max(0.5, (min(upcoming) - now).total_seconds() + 0.5))
            self.stop_event.wait(wait)
        logger.info("scheduler stopped")


def _database_verdicts(url: str) -> Callable[[str], tuple[str, str] | None]:
    """A verdict reader on the configured database (one small pool, opened on first use)."""
    from christmas_spiders.db.engine import make_engine
    from christmas_spiders.db.verdicts import session_verdict

    engine = None

    def read(crawl_id: str) -> tuple[str, str]:
        nonlocal engine
        if engine is None:
            engine = make_engine(url, pool_size=1, max_overflow=0)
        with engine.connect() as conn:
            verdict = session_verdict(conn, crawl_id)
        return verdict.status, verdict.reason

    return read


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``christmas scheduler`` and ``python -m christmas_spiders.scheduler``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="evaluate every entry now and exit")
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        help="with --once: tries while scrapyd is unavailable (default 3)",
    )
    parser.add_argument("--log-level", default="INFO")
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=options.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        scheduler = CronScheduler.from_config(get_config())
    except ScheduleError as exc:
        logger.error("%s", exc)
        return 2
    if options.once:
        return 0 if scheduler.tick_with_retries(options.max_attempts) else 1

    def stop(signum: int, _frame: Any) -> None:
        logger.info("signal %d: stopping", signum)
        scheduler.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
