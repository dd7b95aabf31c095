"""The package's layers: no import cycle, the runtime never imports training or evaluation code,
evaluation never imports training code, and the package exists once."""
from __future__ import annotations

import subprocess
import sys

from tests.import_graph import cycles, import_graph, reachable

LAYERS_ABOVE_RUNTIME = ("tracker.train", "tracker.eval")


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_the_graph_finds_a_cycle_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_runtime_imports_neither_training_nor_evaluation():
    graph = import_graph()
    runtime = [m for m in graph if not _in(m, LAYERS_ABOVE_RUNTIME)]
    leaks = {m: sorted(t for t in reachable(graph, m) if _in(t, LAYERS_ABOVE_RUNTIME)) for m in runtime}
    assert {m: t for m, t in leaks.items() if t} == {}


def test_evaluation_does_not_import_training():
    graph = import_graph()
    evaluation = [m for m in graph if _in(m, ("tracker.eval",))]
    leaks = {m: sorted(t for t in reachable(graph, m) if _in(t, ("tracker.train",))) for m in evaluation}
    assert {m: t for m, t in leaks.items() if t} == {}


def test_the_package_cannot_be_imported_a_second_time_under_another_name():
    probe = "import tracker.tracker"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "No module named 'tracker.tracker'" in done.stderr
