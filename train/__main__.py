"""``python -m tracker.train fit|pack-faces ...``: the training commands without the runtime's dependencies.

For machines that have a copy of the repository and PyTorch but not the runtime's video and
smoothing dependencies (PyAV, filterpy), e.g. a lent GPU: install the copy with
``pip install --no-deps --no-build-isolation -e .`` (it maps ``train/`` to ``tracker.train``), then run.
"""
import typer

from tracker.train.cli import pack, run

app = typer.Typer(help="Training commands (the same as `tracker train` and `tracker pack-faces`).", no_args_is_help=True)
app.command("fit")(run)
app.command("pack-faces")(pack)

if __name__ == "__main__":
    app()
