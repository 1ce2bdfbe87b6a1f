"""The `omni-twilio` command: its shared options, its sub-commands, and its one-line failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from carrier_core.settings import STAGES
from omni_cli import doctor, erase, events, messages, numbers, reconcile, simulate, stackrecord, stores, templates, tenants
from omni_cli.context import CliFailure, Profile, failure_line, mask_numbers, unreachable


class OneLineFailures(TyperGroup):
    """Every failure ends as `Error: <reason>` on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except CliFailure as exc:
            fail(ctx, failure_line(exc, ctx.obj if isinstance(ctx.obj, Profile) else None))
        except Exception as exc:  # noqa: BLE001 - anything unforeseen: its kind and first line, not a traceback
            down = unreachable(exc, ctx.obj if isinstance(ctx.obj, Profile) else None)
            if down is not None:
                fail(ctx, down)
            first = str(exc).splitlines()[0] if str(exc) else ""
            fail(ctx, f"{type(exc).__name__}: {first}"[:300])


def fail(ctx: Any, reason: str) -> NoReturn:
    # An error from Twilio or the API may quote a number ("The 'To' phone number: +1...").
    show = isinstance(ctx.obj, Profile) and ctx.obj.show_numbers
    typer.echo(f"Error: {reason if show else mask_numbers(reason)}", err=True)
    raise typer.Exit(1)


app = typer.Typer(
    cls=OneLineFailures,
    name="omni-twilio",
    help="Operate the Twilio carrier: simulate webhooks, send and follow messages, inspect its tables and events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # --install-completion / --show-completion: bash, zsh, fish, PowerShell.
    add_completion=True,
    # Click's plain help: a flag is shown as a flag. Rich's panels show `--yes <bool>`.
    rich_markup_mode=None,
)


def version_line() -> str:
    """The package's version, and `git describe` of the checkout it runs from, if it does."""
    from importlib.metadata import PackageNotFoundError, version

    from carrier_core.version import describe_checkout

    try:
        installed = version("omni-twilio-cli")
    except PackageNotFoundError:
        installed = "unknown"
    # libs/omni_cli/omni_cli/main.py in a checkout (an editable install, as `make install` makes).
    root = Path(__file__).resolve().parents[3]
    if (root / "libs" / "omni_cli" / "pyproject.toml").is_file():
        return f"omni-twilio {installed} (checkout {describe_checkout(root, timeout=5)})"
    return f"omni-twilio {installed}"


def print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def configure(
    ctx: typer.Context,
    stage: str = typer.Option(
        "local",
        "--stage",
        envvar="OMNI_TWILIO_STAGE",
        help=f"One of {', '.join(STAGES)}; local is the stack of `make dev` (see --port-base).",
    ),
    inbound_url: str | None = typer.Option(None, "--inbound-url", help="The inbound service's base URL (other stages)."),
    status_url: str | None = typer.Option(None, "--status-url", help="The status service's base URL (other stages)."),
    outbound_url: str | None = typer.Option(None, "--outbound-url", help="The outbound service's base URL (other stages)."),
    show_numbers: bool = typer.Option(
        False, "--show-numbers", help="Print phone numbers in full (masked to the last four digits otherwise)."
    ),
    port_base: str | None = typer.Option(
        None, "--port-base", metavar="N", help="The local stack's first port (as DEVSTACK_PORT_BASE; beats it and the record)."
    ),
    stack: Path | None = typer.Option(
        None,
        "--stack",
        metavar="DIR",
        help="Follow the local stack recorded in DIR (its data directory, .dev by default) or a stack.json.",
    ),
    _version: bool = typer.Option(
        False, "--version", callback=print_version, is_eager=True, expose_value=False, help="Print the version and exit."
    ),
) -> None:
    if stage not in STAGES:
        raise CliFailure(f"--stage must be one of {', '.join(STAGES)}, not {stage!r}")
    ctx.obj = Profile(stage, inbound_url, status_url, outbound_url, show_numbers, local_port_base(port_base, stack))


def local_port_base(option: str | None, stack: Path | None) -> int:
    """Where the local stack listens: --port-base, else --stack's record, else DEVSTACK_PORT_BASE,
    else the record of the stack in the repository (.dev/stack.json), else 8000."""
    try:
        if option is not None:
            return stackrecord.parse_port_base(option, "--port-base")
        if stack is not None:
            record = stackrecord.find(Path.cwd(), stack)
            if record is None:
                raise CliFailure(f"--stack {stack}: no running stack is recorded there (is make dev running?)")
            return record.port_base
        return stackrecord.port_base()
    except stackrecord.BadPortBase as exc:
        raise CliFailure(str(exc)) from exc


app.add_typer(simulate.app, name="simulate")
app.command()(messages.send)
app.command()(messages.show)
app.command()(messages.cancel)
app.add_typer(messages.messages_app, name="messages")
app.add_typer(stores.failed_app, name="failed")
app.add_typer(stores.optouts_app, name="optouts")
app.add_typer(events.app, name="events")
app.add_typer(tenants.app, name="tenants")
app.add_typer(numbers.app, name="numbers")
app.add_typer(templates.app, name="templates")
app.command()(doctor.doctor)
app.command()(reconcile.reconcile)
app.command()(erase.erase)


def main() -> None:
    """The console script's entry point."""
    app()
