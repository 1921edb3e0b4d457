"""``christmas``: the project's command line (the console script of pyproject.toml).

Every sub-command lives in the module of what it drives and is imported only when it
is used, so ``christmas db url`` loads no Scrapy, Flask or replica code. A new group is
one line in ``COMMANDS``: its name and the ``module:attribute`` of its click command.
The older entry points (``python -m christmas_spiders.db``, ``python -m
christmas_spiders.scheduler``, ``python -m replicas``, ``python -m replicas.demo``,
``flask --app christmas_spiders.api keys``) run the same code.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

#: name -> "module:attribute" of a click command.
COMMANDS: dict[str, str] = {
    "alerts": "christmas_spiders.alerts.cli:alerts",
    "api": "christmas_spiders.cli:api",
    "db": "christmas_spiders.db.__main__:db",
    "demo": "christmas_spiders.cli:demo",
    "keys": "christmas_spiders.api.cli:keys_command",
    "replicas": "christmas_spiders.cli:replicas",
    "scheduler": "christmas_spiders.cli:scheduler",
}


def _load(path: str) -> object:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported from ``COMMANDS`` on first use."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            command = _load(self.lazy_commands[cmd_name])
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


def argparse_command(name: str, target: str, help: str) -> click.Command:
    """A click command that hands its arguments to an argparse ``main(argv, prog=...)``
    (``target`` as ``module:function``), whose exit code it returns; ``--help`` is that
    parser's."""

    @click.command(
        name,
        help=help,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def command(ctx: click.Context, args: tuple[str, ...]) -> None:
        main = _load(target)
        assert callable(main)
        code = main(list(args), prog=ctx.command_path)
        ctx.exit(code if isinstance(code, int) else 0)

    return command


scheduler = argparse_command(
    "scheduler",
    "christmas_spiders.scheduler:main",
    "Run the cron schedules: each due entry becomes a scrapyd job (--once: one pass).",
)
replicas = argparse_command(
    "replicas",
    "replicas.__main__:main",
    "The replica shops: `serve` them, or print a replica's ground `truth`.",
)
demo = argparse_command(
    "demo",
    "replicas.demo:main",
    "Serve the replica shops, crawl and store each, print a summary against the truth "
    "and the biggest spreads; --serve: then the dashboard and API on that data.",
)


@click.group("api")
def api() -> None:
    """The read API (Flask app christmas_spiders.api:create_app)."""


@api.command(
    "serve",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("granian_args", nargs=-1, type=click.UNPROCESSED)
def serve_api(granian_args: tuple[str, ...]) -> None:
    """Serve the API with granian, as deployed (127.0.0.1:8000, a worker per core).

    CHRISTMAS_API_BIND, CHRISTMAS_API_WORKERS and CHRISTMAS_API_THREADS set its shape
    (docs/api.md); further arguments go to granian, e.g. `christmas api serve --
    --access-log`.
    """
    from christmas_spiders.api.wsgi import ServeSettings, granian_command
    from christmas_spiders.config import ConfigError

    try:
        settings = ServeSettings.from_environ(os.environ)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    command = granian_command(settings, granian_args)
    os.execv(command[0], command)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="christmas_spiders")
def main() -> None:
    """Christmas spiders: Hallmark Keepsake ornament prices from three shops."""


if __name__ == "__main__":
    main()
