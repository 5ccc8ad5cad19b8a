"""The ``mlops`` command group: global options and the one place errors become messages.

Every command fails the same way: ``error: <message>`` on one line of stderr and exit status 1
(2 for a command line click cannot parse). ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from mlops import __version__
from mlops.errors import MlopsError

__all__ = ["TRACKING_URI_ENV", "CliState", "MlopsGroup", "WideHelpGroup", "main", "one_line"]

#: The environment variable ``--store`` sets for the library.
TRACKING_URI_ENV = "MLOPS_TRACKING_URI"

_CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class CliState:
    """What the group's options decided, shared with the error handler of one invocation."""

    debug: bool = False


def one_line(message: str) -> str:
    """A message on one line: indented lines (a query echoed with a ``^`` under the bad token)
    are left out, since the message names the column, and the other lines are joined."""
    lines = message.splitlines()
    kept = [lines[0].strip()] if lines else []
    kept += [line.strip() for line in lines[1:] if line.strip() and not line[:1].isspace()]
    return " ".join(kept)


def _error(message: str) -> None:
    """Write the one error line to stderr."""
    click.echo(f"error: {one_line(message)}", err=True)


class WideHelpGroup(click.Group):
    """A click group whose ``--help`` lists each command with its whole first sentence, wrapped
    to the terminal, where click would cut it to one line with "..."."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The "Commands" section of ``--help``."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class MlopsGroup(WideHelpGroup):
    """A click group whose ``main`` turns every failure into one ``error:`` line and an exit code.

    Handling errors in ``main`` (and not in ``invoke``) also covers command lines that fail to
    parse, and it works the same under ``CliRunner`` and in the installed ``mlops`` script.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; exit (or return the exit code when not ``standalone_mode``)."""
        state = CliState(debug="--debug" in (sys.argv[1:] if args is None else list(args)))
        extra.setdefault("obj", state)
        saved_uri = os.environ.get(TRACKING_URI_ENV)
        try:
            code = self._run(args, prog_name, complete_var, state, extra)
        finally:
            # ``--store`` changed the environment for this command only (matters in-process).
            if saved_uri is None:
                os.environ.pop(TRACKING_URI_ENV, None)
            else:
                os.environ[TRACKING_URI_ENV] = saved_uri
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        state: CliState,
        extra: dict[str, Any],
    ) -> int:
        """Invoke click without its own error handling and map each failure to an exit code."""
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help())
            return 0
        except click.ClickException as exc:
            if state.debug:
                traceback.print_exc()
            _error(exc.format_message())
            return exc.exit_code
        except click.Abort:
            _error("interrupted")
            return 130
        except MlopsError as exc:
            if state.debug:
                traceback.print_exc()
            _error(exc.message)
            return 1
        except Exception as exc:
            if state.debug:
                traceback.print_exc()
                _error(f"unexpected {type(exc).__name__}: {exc}")
            else:
                _error(
                    f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"
                )
            return 1
        # click returns the code of an explicit ``ctx.exit(n)`` (``--version``, ``--help``).
        return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


@click.group(cls=MlopsGroup, context_settings=_CONTEXT_SETTINGS)
@click.option(
    "--store",
    metavar="URI",
    help="Tracking store for this command, e.g. sqlite:///runs.db "
    "(default: MLOPS_TRACKING_URI, else ~/.mlops/mlops.db).",
)
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.version_option(__version__, "--version", prog_name="mlops", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, store: str | None, debug: bool) -> None:
    """Look at what your training runs tracked: projects, experiments, iterations, datasets."""
    state = ctx.ensure_object(CliState)
    state.debug = debug
    if store:
        from mlops.config import tracking_uri

        os.environ[TRACKING_URI_ENV] = tracking_uri(store)  # raises InvalidInput when unusable
