"""The `tsukeku` command. Each area registers its commands from its own module so that
startup stays fast (heavy imports happen inside the commands) and areas stay independent."""

import sys

import typer
from rich.console import Console
from rich.text import Text

from tsukeku.errors import TsukekuError

app = typer.Typer(
    name="tsukeku",
    help="付句 — renga composition: count morae, build data, fine-tune, compose, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """付句 — renga composition: count morae, build data, fine-tune, compose, serve."""


@app.command()
def version() -> None:
    """Print the tsukeku version."""
    from tsukeku import __version__

    typer.echo(__version__)


def _register_all() -> None:
    from tsukeku.cli import arena, compose, data, db, evaluate, models, prosody, renga, serve, train

    for module in (prosody, data, renga, models, train, compose, serve, evaluate, db, arena):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one clear line on stderr and exit status 2."""
    try:
        app(args=argv, standalone_mode=True)
    except TsukekuError as err:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(str(err)), soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        sys.exit(130)
