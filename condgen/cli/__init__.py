"""The ``condgen`` command line (Typer): the app, its entry point ``main`` and the table of its commands.

The commands live in one module per group: ``training`` (train, quickstart; ``resolve_config``), ``images``
(sample, translate, upscale, anonymize, stylize), ``share`` (evaluate, export, serve) and ``data``
(import-weights, download, models, data list/make/download); ``common`` holds what they share. They are
registered below in the order ``condgen --help`` lists them.
"""

from __future__ import annotations

import sys

import typer

from condgen.cli.data import data_download, data_list, data_make, download_cmd, import_weights, models
from condgen.cli.images import MAX_GRID_CELLS, SAMPLE_BATCH, anonymize, sample, stylize, translate, upscale
from condgen.cli.share import evaluate, export, serve
from condgen.cli.training import load_yaml_opt, quickstart, resolve_config, train
from condgen.errors import CondgenError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="condgen: conditional generative models (GAN, DCGAN, cGAN, ...) on PyTorch.\n\n"
                       "Start with `condgen quickstart`, or `condgen train dcgan --data digits --preset quick`.")
data_app = typer.Typer(no_args_is_help=True, help="Built-in offline datasets: list them or write them out as folders.")
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    if value:
        import condgen

        typer.echo(f"condgen {condgen.__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="print condgen's version and exit")) -> None:
    """condgen: conditional generative models (GAN, DCGAN, cGAN, ...) on PyTorch."""


app.command()(train)
app.command()(sample)
app.command()(translate)
app.command()(upscale)
app.command()(anonymize)
app.command()(stylize)
app.command("import-weights")(import_weights)
app.command()(export)
app.command()(evaluate)
app.command()(serve)
app.command("download")(download_cmd)
data_app.command("download")(data_download)
data_app.command("list")(data_list)
data_app.command("make")(data_make)
app.command()(models)
app.command()(quickstart)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """condgen's own warnings as one line, ``warning: ...`` (no source line): they are messages to the user."""
    if category.__module__.split(".")[0] == "condgen":
        return f"warning: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


def main() -> None:
    """Entry point: run the app, printing CondgenErrors as one paragraph without a traceback."""
    import warnings

    global _default_formatwarning
    if warnings.formatwarning is not _format_warning:
        _default_formatwarning, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        app(standalone_mode=False)
    except CondgenError as e:
        from condgen.errors import strip_unsafe_advice

        typer.echo(f"error: {strip_unsafe_advice(str(e))}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors (click's own classes, or the copy newer typer versions vendor)
        names = {c.__name__ for c in type(e).__mro__}
        if "ClickException" in names and hasattr(e, "show"):
            e.show()
            sys.exit(getattr(e, "exit_code", 2))
        if "Abort" in names:
            sys.exit(1)
        raise


__all__ = ["MAX_GRID_CELLS", "SAMPLE_BATCH", "anonymize", "app", "data_app", "data_download", "data_list", "data_make",
           "download_cmd", "evaluate", "export", "import_weights", "load_yaml_opt", "main", "models", "quickstart",
           "resolve_config", "sample", "serve", "stylize", "train", "translate", "upscale"]
