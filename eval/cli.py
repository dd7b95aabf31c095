"""``tracker eval``: the paper's protocols and the stress benchmarks."""
from __future__ import annotations

import typer

app = typer.Typer(help="Evaluate on 300-W, AFLW and 300-VW protocols.", no_args_is_help=True)
