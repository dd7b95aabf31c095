"""The GPU-ready training path on the CPU: pack the faces, train in time-budgeted steps that resume,
bundle the results, all through ``python -m tracker.train`` without PyAV or filterpy (the lent GPU has neither)."""
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_w300_folder
from tracker.datasets.w300 import load_split
from tracker.models import load_weights
from tracker.train.config import preset
from tracker.train.pack import PackError, read_pack, write_pack
from tracker.train.results import bundle_results, unbundle_results
from tracker.train.runner import Trainer, faces_to_splits, pack_to_splits

# Runs train's CLI with the runtime-only packages made unimportable, as on the GPU machine.
WITHOUT_RUNTIME_PACKAGES = (
    "import sys; sys.modules.update(av=None, filterpy=None); sys.argv[0] = 'tracker.train'; "
    "from tracker.train.__main__ import app; app()"
)


def _train_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", WITHOUT_RUNTIME_PACKAGES, *args], capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture
def w300(tmp_path):
    write_w300_folder(tmp_path / "w300", 6)
    write_w300_folder(tmp_path / "w300", 2, seed=1, subset="lfpw/testset")
    return tmp_path / "w300"


def test_pack_round_trip_keeps_faces_points_and_crops(w300, tmp_path):
    cfg = preset("tiny")
    train, val = faces_to_splits(cfg, load_split(w300, "train").faces, load_split(w300, "common").faces)
    write_pack(tmp_path / "p.npz", {"train": train, "val": val}, quality=95)
    packed_train, packed_val = pack_to_splits(cfg, tmp_path / "p.npz")
    for before, after in ((train, packed_train), (val, packed_val)):
        assert after.cache.names == before.cache.names and after.cache.crops == before.cache.crops
        assert after.cache.images.shape == before.cache.images.shape
        assert np.abs(after.cache.images.astype(float) - before.cache.images).mean() < 3  # WebP, lossy
        np.testing.assert_allclose(after.cache.points, before.cache.points, atol=1e-4)
        np.testing.assert_allclose(after.image_points, before.image_points)
    resized = read_pack(tmp_path / "p.npz")["train"].resized(20)
    assert resized.cache.images.shape[1:3] == (20, 20)
    np.testing.assert_allclose(resized.cache.points, train.cache.points * 20 / train.cache.size + (20 / train.cache.size - 1) / 2, atol=1e-4)
    (tmp_path / "bad.npz").write_bytes(b"not a pack")
    with pytest.raises(PackError, match="not a training pack"):
        read_pack(tmp_path / "bad.npz")


def test_a_past_deadline_stops_before_the_next_epoch_and_the_run_resumes(w300, tmp_path):
    cfg = preset("tiny")
    train, val = faces_to_splits(cfg, load_split(w300, "train").faces, [])
    first = Trainer(cfg, train, val, tmp_path / "run", torch.device("cpu"))
    first.run(epoch_budget=1)
    late = Trainer(cfg, train, val, tmp_path / "run", torch.device("cpu"), deadline=time.monotonic() - 1)
    late.run()
    assert late.stopped_early and (late.state.stage, late.state.epoch) == ("baseline", 1)
    done = Trainer(cfg, train, val, tmp_path / "run", torch.device("cpu"), deadline=time.monotonic() + 600)
    done.run()
    assert not done.stopped_early and done.state.stage == "ghcu"


def test_pack_then_time_budgeted_steps_then_results_without_runtime_packages(w300, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    pack = tmp_path / "faces.npz"
    out = _train_cli("pack-faces", "--root", str(w300), "--out", str(pack), "--size", "64", "--val-size", "32", cwd=repo)
    assert "6 train, 2 val faces" in out.stdout
    run, results = tmp_path / "run", tmp_path / "results"
    common = ["fit", "--pack", str(pack), "--preset", "tiny", "--run-dir", str(run), "--device", "cpu", "--results", str(results)]
    step1 = _train_cli(*common, "--epoch-budget", "3", cwd=repo)  # a step that ends inside the SA stage
    assert "stopped at sa epoch 1" in step1.stdout
    step2 = _train_cli(*common, "--time-budget", "0", cwd=repo)  # no time left: stops before its first epoch
    assert "stopped at sa epoch 1" in step2.stdout
    step3 = _train_cli(*common, "--time-budget", "600", cwd=repo)
    assert "HG+SA+GHCU" in step3.stdout and "stopped" not in step3.stdout
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in log] == [(s, e) for s in ("baseline", "sa", "ghcu") for e in (0, 1)]
    unbundle_results(results, tmp_path / "back")
    assert load_weights(tmp_path / "back" / "weights" / "final.pt").ghcu is not None
    assert (tmp_path / "back" / "metrics.json").is_file() and not (tmp_path / "back" / "checkpoint.pt").exists()


def test_results_are_cut_into_parts_that_join_back(tmp_path):
    run = tmp_path / "run"
    (run / "weights").mkdir(parents=True)
    blob = np.random.default_rng(0).bytes(2500)
    (run / "weights" / "final.pt").write_bytes(blob)
    (run / "checkpoint.pt").write_bytes(b"resumable state")
    parts = bundle_results(run, tmp_path / "out", part_bytes=1024)
    assert len(parts) >= 4 and all(p.stat().st_size <= 1024 for p in parts)
    unbundle_results(tmp_path / "out", tmp_path / "back")
    assert (tmp_path / "back" / "weights" / "final.pt").read_bytes() == blob
    assert not (tmp_path / "back" / "checkpoint.pt").exists()
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tar:
        assert tar.getnames() == ["weights/final.pt"]


def test_the_cuda_code_paths_bf16_autocast_and_channels_last_run_on_the_cpu(w300, tmp_path):
    """What a GPU step switches on (bf16 autocast, channels-last tensors, a teacher in bf16), exercised
    on the CPU so that no GPU minute goes to a dtype or layout error."""
    from dataclasses import replace

    from tests.conftest import make_model
    from tracker.models import save_weights
    from tracker.train.config import DistillConfig

    save_weights(tmp_path / "teacher.pt", make_model(ghcu=False))
    cfg = replace(preset("tiny"), distill=DistillConfig(teacher=str(tmp_path / "teacher.pt")))
    train, val = faces_to_splits(cfg, load_split(w300, "train").faces, load_split(w300, "common").faces)
    trainer = Trainer(cfg, train, val, tmp_path / "run", torch.device("cpu"))
    trainer.amp = True
    trainer.memory_format = torch.channels_last
    trainer.hourglass.to(memory_format=torch.channels_last)
    trainer.teacher.to(memory_format=torch.channels_last)
    results = trainer.run()
    assert set(results) == {"HG", "HG+SA", "HG+SA+GHCU"} and all(np.isfinite(v) for v in results.values())


def test_one_stretched_epoch_does_not_stop_a_time_budgeted_run(w300, tmp_path):
    """A run paused during an epoch (one very long epoch in the log) still fits epochs of its usual length."""
    cfg = preset("tiny")
    train, val = faces_to_splits(cfg, load_split(w300, "train").faces, [])
    trainer = Trainer(cfg, train, val, tmp_path / "run", torch.device("cpu"), deadline=time.monotonic() + 60)
    trainer.state.history = [{"stage": "baseline", "seconds": s} for s in (2.0, 3.0, 5000.0)]
    assert not trainer._out_of_time("baseline")
    trainer.state.history.append({"stage": "baseline", "seconds": 4000.0})
    assert trainer._out_of_time("baseline")
