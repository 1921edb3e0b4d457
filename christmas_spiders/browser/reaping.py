"""Killing browser process trees, and the nets that catch browsers left behind.

A Chromium driver is chromedriver plus a Chromium browser process and its
renderers, GPU and utility children. Killing chromedriver alone leaves Chromium
running, and a killed Chromium's children are re-parented away from it, so a
driver's processes are found twice over: as chromedriver's descendants, and by
the ``--user-data-dir`` every driver gets (named with :data:`USER_DATA_DIR_PREFIX`).

Two nets catch what a normal spider close would not:

* an ``atexit`` hook kills every live driver when the interpreter exits without
  the spider having closed (a forced second Ctrl-C);
* :func:`reap_orphaned_browsers` kills the browsers of crawls that died without
  any cleanup (``kill -9``); the pool calls it before its first browser.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import threading
import time
from typing import Protocol

import psutil

from christmas_spiders.browser.errors import BrowserExiting

logger = logging.getLogger(__name__)

#: Every driver's ``--user-data-dir`` starts with this (in the temp directory),
#: so its Chromium processes can be found by command line if they escape the tree.
USER_DATA_DIR_PREFIX = "christmas-selenium-"

#: How long the atexit net waits for driver starts in progress to finish.
EXIT_START_WAIT_SECONDS = 30.0


class Killable(Protocol):
    def kill(self) -> None: ...


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_processes(processes: list[psutil.Process], timeout: float = 5.0) -> None:
    """SIGKILL them all at once and wait until each is gone or a zombie.

    A killed Chromium's children are re-parented to init and stay zombies until
    it reaps them (in a container, maybe never): they are dead, so not waited for.
    """
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.kill()
    deadline = time.monotonic() + timeout
    pending = [p for p in processes if _running(p)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [p for p in pending if _running(p)]


def processes_using_dir(user_data_dir: str) -> list[psutil.Process]:
    """Chromium processes whose command line names this user-data-dir.

    Catches processes re-parented away from chromedriver (e.g. a renderer whose
    browser process was killed first).
    """
    marker = f"--user-data-dir={user_data_dir}"
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if marker in (process.info["cmdline"] or []):
                found.append(process)
    return found


def _our_user_data_dir(cmdline: list[str]) -> str | None:
    for argument in cmdline:
        if argument.startswith("--user-data-dir="):
            path = argument.split("=", 1)[1]
            if os.path.basename(path).startswith(USER_DATA_DIR_PREFIX):
                return path
    return None


def reap_orphaned_browsers() -> int:
    """Kill the browsers of crawls that died without cleaning up (``kill -9``).

    Such a crawl leaves its chromedriver re-parented to init, or its Chromium
    without chromedriver. Browsers of crawls still running (their chromedriver
    has a live crawl as parent) are left alone. Returns how many browsers were reaped.
    """
    reaped = 0
    for process in psutil.process_iter(["cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            user_data_dir = _our_user_data_dir(cmdline)
            if user_data_dir is None or any(a.startswith("--type=") for a in cmdline):
                continue  # not one of ours, or not the main browser process
            parent = process.parent()
            driver = parent if parent is not None and "chromedriver" in parent.name() else None
            if driver is not None and driver.ppid() != 1:
                continue  # its crawl is alive
            victims = [process, *process.children(recursive=True)]
            if driver is not None:
                victims.append(driver)
        except psutil.Error:
            continue
        kill_processes([*victims, *processes_using_dir(user_data_dir)])
        shutil.rmtree(user_data_dir, ignore_errors=True)
        logger.warning("Killed an orphaned browser left by a dead crawl (%s)", user_data_dir)
        reaped += 1
    return reaped


class StartGate:
    """Counts driver starts in progress; closed for good by the atexit safety net.

    Worker threads are daemons and keep running while the interpreter exits, so
    once the net has swept, no driver may start (it would outlive the crawl).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._starting = 0
        self.closed = False

    def enter(self) -> None:
        with self._condition:
            if self.closed:
                raise BrowserExiting("interpreter exiting, not starting a browser")
            self._starting += 1

    def leave(self) -> None:
        with self._condition:
            self._starting -= 1
            self._condition.notify_all()

    def close_and_wait(self, timeout: float) -> None:
        with self._condition:
            self.closed = True
            self._condition.wait_for(lambda: self._starting == 0, timeout)


#: Every driver start passes through this gate.
start_gate = StartGate()

_live_drivers: set[Killable] = set()
_live_drivers_lock = threading.Lock()


def track(driver: Killable) -> None:
    """Register a driver (before its processes start) for the atexit net."""
    with _live_drivers_lock:
        _live_drivers.add(driver)


def untrack(driver: Killable) -> None:
    with _live_drivers_lock:
        _live_drivers.discard(driver)


@atexit.register
def _kill_live_drivers() -> None:
    """Safety net for an interpreter exit that skipped spider_closed (forced shutdown)."""
    # Starts in progress finish first (and then kill themselves): a chromedriver
    # spawned after the sweep would outlive us.
    start_gate.close_and_wait(timeout=EXIT_START_WAIT_SECONDS)
    with _live_drivers_lock:
        drivers = list(_live_drivers)
    for driver in drivers:
        driver.kill()
