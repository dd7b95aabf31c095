"""What ``pip install .`` installs: one top-level package, ``tracker``, with the training and evaluation
code under it as ``tracker.train`` and ``tracker.eval`` and the default weights as ``tracker.assets``."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tracker.cli import PLUGIN_GROUP

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # Without build isolation where setuptools is at hand (offline); CI's fresh venv fetches it.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    source = tmp_path_factory.mktemp("source") / "repo"  # a copy, so the build leaves no build/ in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".cache"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation, "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return zipfile.ZipFile(next(out.glob("*.whl")))


def test_wheel_installs_only_the_tracker_package(wheel):
    names = wheel.namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"tracker"}
    for module in ("tracker/train/cli.py", "tracker/train/__main__.py", "tracker/eval/cli.py", "tracker/assets/compact_300w.pt"):
        assert module in names


def test_wheel_entry_points_name_the_tracker_package(wheel):
    text = next(wheel.read(n).decode() for n in wheel.namelist() if n.endswith("entry_points.txt"))
    plugins = text.split(f"[{PLUGIN_GROUP}]")[1].split("[")[0]
    targets = [line.split("=", 1)[1].strip() for line in plugins.strip().splitlines()]
    assert {"tracker.train.cli:run", "tracker.eval.cli:app"} <= set(targets)
    assert all(t.startswith("tracker.") for t in targets)


def test_installed_commands_work_outside_the_checkout(tmp_path):
    """From any folder: the plugins load under the package's names and no top-level train/eval exists."""
    assert all(ep.value.startswith("tracker.") for ep in entry_points(group=PLUGIN_GROUP)), "reinstall: pip install -e ."
    probe = "import importlib.util as u; print(u.find_spec('train'), u.find_spec('eval'), u.find_spec('tracker.train') is not None)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["None", "None", "True"], out.stderr
    tracker_cmd = shutil.which("tracker") or str(Path(sys.executable).parent / "tracker")
    for command in (["train", "--help"], ["eval", "--help"]):
        done = subprocess.run([tracker_cmd, *command], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Usage: tracker" in done.stdout, done.stderr
