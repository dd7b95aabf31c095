"""``python -m tracker.train fit|pack-faces ...``: the training commands without installing the package.

For machines that have a copy of the repository and PyTorch but not the runtime's video and
smoothing dependencies (PyAV, filterpy), e.g. a lent GPU: run from the repository root.
"""
import typer

from tracker.train.cli import pack, run

app = typer.Typer(help="Training commands (the same as `tracker train` and `tracker pack-faces`).", no_args_is_help=True)
app.command("fit")(run)
app.command("pack-faces")(pack)

if __name__ == "__main__":
    app()
