"""Every output goes through one atomic-write helper: whole or not at all."""
import pytest

from tracker.io.atomic import atomic_write, partial_path


def test_a_finished_write_replaces_the_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with atomic_write(target) as partial:
        assert partial.parent == target.parent and partial.name.startswith(".") and partial.suffix == ".csv"
        partial.write_text("new")
        assert target.read_text() == "old"  # nothing visible until the block ends
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_removes_the_partial(tmp_path, error):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(type(error)), atomic_write(target) as partial:
        partial.write_text("half")
        raise error
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_partial_names_differ_between_processes(tmp_path, monkeypatch):
    first = partial_path(tmp_path / "graph.onnx")
    monkeypatch.setattr("os.getpid", lambda: 1)
    assert partial_path(tmp_path / "graph.onnx") != first
