import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import write_w300_folder
from tracker.datasets.w300 import load_split
from tracker.models import GHCUConfig, HourglassConfig, load_weights
from tracker.network.codec import PIXEL_MEAN, PIXEL_STD
from tracker.train.config import preset
from tracker.train.runner import Trainer, faces_to_splits

# torchrun's rendezvous picks a free local port; another process can take it first
NETWORK_ERRORS = ("EADDRINUSE", "address already in use", "Address already in use", "DistNetworkError", "RendezvousError")
OFFSET = np.array([3.0, -2.0])  # annotations planted this far (image px) from where the dots are
SA_SEARCHES = 4  # SA epochs' searches in a row


class DotOracle(torch.nn.Module):
    """A stand-in hourglass whose every heatmap is the image's own dot pattern (4x average-pooled),
    widened to the training targets' Gaussian (sigma 1 heatmap pixel), as a trained network's peaks are."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        intensity = x[:, :1] * PIXEL_STD + PIXEL_MEAN
        heat = F.avg_pool2d(intensity, 4)
        offsets = torch.arange(-3, 4, dtype=heat.dtype)
        kernel = torch.exp(-offsets**2 / 2)
        heat = F.conv2d(heat, kernel.view(1, 1, 1, -1), padding=(0, 3))
        heat = F.conv2d(heat, kernel.view(1, 1, -1, 1), padding=(3, 0))
        return [heat.expand(-1, 68, -1, -1)]


def make_trainer(cfg, train_faces, val_faces, run_dir, **kwargs) -> Trainer:
    return Trainer(cfg, *faces_to_splits(cfg, train_faces, val_faces), run_dir, torch.device("cpu"), **kwargs)


def _config(input_size: int = 128):
    return preset(
        "tiny",
        model=HourglassConfig(num_stacks=1, features=16, depth=1, input_size=input_size),
        ghcu_model=GHCUConfig(heatmap_size=input_size // 4, channels=(8, 8), hidden=16),
    )


def test_three_stages_run_and_sa_search_moves_labels_to_planted_truth(tmp_path):
    truths = np.stack(write_w300_folder(tmp_path / "w300", 6, offset=OFFSET))
    faces = load_split(tmp_path / "w300", "train").faces
    trainer = make_trainer(_config(), faces, faces[:2], tmp_path / "run")
    results = trainer.run()
    run = tmp_path / "run"
    for name in ("baseline", "sa", "final"):
        assert (run / "weights" / f"{name}.pt").is_file()
    assert load_weights(run / "weights" / "final.pt").ghcu is not None
    assert set(results) == {"HG", "HG+SA", "HG+SA+GHCU"}
    assert sorted(p.name for p in (run / "sa_labels").iterdir()) == ["epoch_00.npy", "epoch_01.npy"]
    assert all((run / f).is_file() for f in ("loss.png", "val_nme.png", "sa_points.png", "config.json", "log.jsonl"))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == ["baseline"] * 2 + ["sa"] * 2 + ["ghcu"] * 2
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["train_nme_ip"]) for r in log)

    # the per-epoch fit check scores canonical crops of training faces, framed as validation crops are
    from tracker.geometry import crop_from_points, from_crop

    fit = trainer.fit["300w"].cache
    for i, name in enumerate(fit.names):
        face = next(f for f in faces if f.name == name)
        expected = crop_from_points(face.points)
        assert np.allclose([fit.crops[i].cx, fit.crops[i].cy, fit.crops[i].size], [expected.cx, expected.cy, expected.size])
        np.testing.assert_allclose(from_crop(fit.points[i], fit.crops[i], fit.size), face.points, atol=1e-3)

    # SA step 1 with a network that "sees" the real points: labels move from the annotation to the truth
    # (at 64x64 heatmaps, where the oracle's target-wide peaks of neighbouring points stay apart)
    trainer = make_trainer(_config(256), faces, [], tmp_path / "search")
    run = tmp_path / "search"
    trainer.hourglass = DotOracle()
    annotated = np.stack([f.points for f in faces])
    before = np.linalg.norm(annotated - truths, axis=-1).mean()
    assert before == pytest.approx(np.linalg.norm(OFFSET))
    errors = {}
    for ratio in (0.1, 0.01):  # the paper's s2^2/s1^2, then a likelihood-heavier balance
        trainer.cfg = replace(trainer.cfg, search=replace(trainer.cfg.search, s2=ratio**0.5))
        trainer.dataset.labels = trainer.train_cache.points.copy()
        errors[ratio] = [before]
        for epoch in range(SA_SEARCHES):  # o <- y^ every SA epoch, as the paper alternates
            trainer.search_labels()
            trainer._save_searched(epoch=99)
            searched = np.load(run / "sa_labels" / "epoch_99.npy")
            errors[ratio].append(np.linalg.norm(searched - truths, axis=-1).mean())
    paper = errors[0.1]
    assert all(b <= a + 0.05 for a, b in zip(paper, paper[1:])), errors  # the paper's balance settles, never wanders
    assert paper[-1] < 0.5 * before, (before, errors)
    assert max(errors[0.01][1:]) < 0.6 * before, (before, errors)


def _state(trainer: Trainer) -> dict[str, torch.Tensor]:
    state = {f"hg.{k}": v for k, v in trainer.hourglass.state_dict().items()}
    state.update({f"ghcu.{k}": v for k, v in trainer.ghcu.state_dict().items()})
    if trainer.ema is not None:
        state.update({f"ema.{k}": v for k, v in trainer.ema.state_dict().items()})
    state["labels"] = torch.from_numpy(trainer.dataset.labels)
    return state


@pytest.mark.parametrize("extras", [{}, {"ema_decay": 0.9, "coord_loss_weight": 1.0}], ids=["plain", "ema+coord"])
def test_interrupted_and_resumed_run_gives_identical_weights(tmp_path, extras):
    write_w300_folder(tmp_path / "w300", 6)
    faces = load_split(tmp_path / "w300", "train").faces
    cfg = replace(_config(32), augment=preset("tiny").augment, **extras)
    straight = make_trainer(cfg, faces, [], tmp_path / "a")
    straight.run()
    first = make_trainer(cfg, faces, [], tmp_path / "b")
    first.run(epoch_budget=3)  # stops inside the SA stage
    assert first.state.stage == "sa" and first.state.epoch == 1
    resumed = make_trainer(cfg, faces, [], tmp_path / "b")
    resumed.run()
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


def test_torchrun_two_cpu_ranks_end_with_identical_weights(tmp_path):
    write_w300_folder(tmp_path / "w300", 8)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tracker",
        "train", "--data", "300w", "--root", str(tmp_path / "w300"), "--preset", "tiny",
        "--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode != 0 and any(s in proc.stderr for s in NETWORK_ERRORS):  # a port race, not our code: once more
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check = json.loads((tmp_path / "run" / "ddp_check.json").read_text())
    assert check == {"world_size": 2, "max_divergence": 0.0}
    assert (tmp_path / "run" / "weights" / "final.pt").is_file()


def test_distillation_renders_crops_for_the_teacher_and_pulls_the_student_to_its_heatmaps(tmp_path):
    from tracker.models import LandmarkModel, StackedHourglass, save_weights
    from tracker.train.config import DistillConfig

    write_w300_folder(tmp_path / "w300", 6)
    faces = load_split(tmp_path / "w300", "train").faces
    torch.manual_seed(1)
    teacher = StackedHourglass(HourglassConfig(num_stacks=1, features=16, depth=1, input_size=64)).eval()
    torch.nn.init.zeros_(teacher.heads[0].weight)
    torch.nn.init.constant_(teacher.heads[0].bias, 0.5)  # a teacher whose every heatmap is flat 0.5, unlike any label
    save_weights(tmp_path / "teacher.pt", LandmarkModel(teacher))
    plain = replace(_config(32), baseline=replace(_config(32).baseline, epochs=6, lr=1e-2, lr_final=1e-3))
    cfg = replace(plain, distill=DistillConfig(teacher=str(tmp_path / "teacher.pt"), weight=1.0, label_weight=0.0))
    trainer = make_trainer(cfg, faces, [], tmp_path / "run")
    assert trainer.render_size == 64 and trainer.dataset[0][0].shape == (64, 64, 3)
    assert trainer.train_cache.size == round(64 * cfg.cache_margin)  # cached at the teacher's scale, not up-sampled
    images = torch.stack([trainer.dataset[i][0] for i in range(4)])
    target = trainer.teacher_heatmaps(images)

    def distance(t: Trainer) -> float:
        t.hourglass.eval()
        with torch.no_grad():
            return float(F.mse_loss(t.hourglass(trainer._input(images))[-1], target))

    before = distance(trainer)
    trainer.run(stages=("baseline",))
    control = make_trainer(plain, faces, [], tmp_path / "control")  # same start, labels only
    control.run(stages=("baseline",))
    assert distance(trainer) < 0.5 * before and distance(trainer) < 0.5 * distance(control)


def test_init_from_a_stride_four_network_copies_every_shared_tensor(tmp_path):
    from tracker.models import LandmarkModel, StackedHourglass, save_weights

    write_w300_folder(tmp_path / "w300", 4)
    faces = load_split(tmp_path / "w300", "train").faces
    coarse = HourglassConfig(num_stacks=1, features=16, depth=1, input_size=32)
    torch.manual_seed(3)
    source = StackedHourglass(coarse)
    save_weights(tmp_path / "coarse.pt", LandmarkModel(source), half=False)
    cfg = preset("tiny", model=replace(coarse, heatmap_stride=2, head_features=8), ghcu_model=GHCUConfig(heatmap_size=16, channels=(8, 8), hidden=16))
    trainer = make_trainer(cfg, faces, [], tmp_path / "run")
    fresh = trainer.init_from(tmp_path / "coarse.pt")
    assert fresh and all(name.startswith("heads.") for name in fresh)
    own = trainer.hourglass.state_dict()
    assert all(torch.equal(own[k], v) for k, v in source.state_dict().items() if k in own and k not in fresh)


def test_epoch_seeds_never_repeat_across_stages_or_long_stages():
    from tracker.train.runner import epoch_seed

    seeds = {epoch_seed(seed, stage, epoch) for seed in (0, 1) for stage in range(3) for epoch in range(1000)}
    assert len(seeds) == 2 * 3 * 1000  # seed*1000 + stage*100 + epoch repeated from epoch 100 on


def test_aflw_style_validation_scores_as_eval_does(tmp_path):
    """Faces with a dataset box and hidden points: the training validation is the eval protocol's
    number (box-framed crops, box-size NME over visible points, faces with none left out)."""
    from tracker.datasets import FaceSample
    from tracker.eval.still import still_errors
    from tracker.network.still_faces import predict_faces
    from tracker.models import LandmarkModel
    from tracker.network.options import GraphOptions
    from tracker.network.predictor import LandmarkPredictor

    write_w300_folder(tmp_path / "w300", 4)
    plain = load_split(tmp_path / "w300", "train").faces
    rng = np.random.default_rng(0)
    faces = []
    for i, f in enumerate(plain):
        lo, hi = f.points.min(axis=0), f.points.max(axis=0)
        box = (lo[0] - 3.0, lo[1] + 2.0, hi[0] + 5.0, hi[1] + 1.0)
        visible = np.zeros(68, bool) if i == 0 else rng.random(68) < 0.5
        faces.append(FaceSample(f.image_path, f.points, "aflw_full", box, visible))
    trainer = make_trainer(_config(), plain, faces, tmp_path / "run")
    predictor = LandmarkPredictor(LandmarkModel(trainer.network, None), "cpu", GraphOptions(ghcu=False))
    scored = [f for f in faces if f.visible.any()]
    expected = still_errors(predict_faces(predictor, scored), scored, with_box=True)["nme_box"].mean() * 100
    assert trainer.validate(with_ghcu=False) == pytest.approx(expected, rel=1e-4)
    assert np.isnan(still_errors(predict_faces(predictor, faces[:1]), faces[:1], with_box=True)["nme_box"][0])


def test_ema_weights_are_what_is_validated_searched_and_exported(tmp_path):
    write_w300_folder(tmp_path / "w300", 6)
    faces = load_split(tmp_path / "w300", "train").faces
    cfg = replace(_config(32), ema_decay=0.5)
    trainer = make_trainer(cfg, faces, faces[:2], tmp_path / "run")
    trainer.run(stages=("baseline",))
    exported = load_weights(tmp_path / "run" / "weights" / "baseline.pt").hourglass.state_dict()
    average, raw = trainer.ema.module.state_dict(), trainer.hourglass.state_dict()
    floats = [k for k, v in raw.items() if v.is_floating_point()]
    assert all(torch.allclose(exported[k], average[k].half().float(), atol=1e-3) for k in floats)
    assert any(not torch.allclose(average[k], raw[k]) for k in floats)  # the average lags the trained weights
    assert trainer.network is trainer.ema.module
    latest = load_weights(tmp_path / "run" / "weights" / "latest.pt").hourglass.state_dict()  # written every epoch
    assert all(torch.equal(latest[k], exported[k]) for k in floats)


def test_coordinate_loss_pulls_each_heatmap_s_centre_of_mass_to_the_label():
    from tracker.network.codec import render_gaussians
    from tracker.train.losses import coordinate_loss, local_soft_argmax

    points = torch.tensor([[[10.3, 12.6], [5.5, 20.2]]])
    target = render_gaussians(points, 32, 1.0)
    assert coordinate_loss(target, target, points, 2).item() == 0.0
    shifted = render_gaussians(points + torch.tensor([0.4, 0.0]), 32, 1.0)
    assert coordinate_loss(shifted, target, points, 2).item() > 0.1
    pred = shifted.clone().requires_grad_(True)
    for _ in range(100):  # gradient steps on the heatmap alone move its centre of mass to the label's
        loss = coordinate_loss(pred, target, points, 2)
        (grad,) = torch.autograd.grad(loss, pred)
        pred = (pred - 2.0 * grad).detach().requires_grad_(True)
    centre = local_soft_argmax(pred.detach(), points.round().long(), 2)
    assert (centre - local_soft_argmax(target, points.round().long(), 2)).abs().max() < 0.05


def test_train_speed_times_every_arithmetic_of_each_preset():
    from tracker.train.config import preset
    from tracker.train.throughput import ARITHMETICS, training_throughput

    table = training_throughput({"tiny": replace(preset("tiny"), coord_loss_weight=1.0)}, batch=2, steps=1, rounds=1)
    assert set(table["tiny"]) == {a.name for a in ARITHMETICS}
    assert all(rate > 0 for rate in table["tiny"].values())


def test_train_speed_times_compiled_steps_when_asked(monkeypatch):
    import torch

    from tracker.train.config import preset
    from tracker.train.throughput import ARITHMETICS, COMPILED, training_throughput

    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model: compiled.append(model) or model)  # Inductor takes minutes
    table = training_throughput({"tiny": preset("tiny")}, batch=2, steps=1, rounds=1, arithmetics=ARITHMETICS + COMPILED)
    assert set(table["tiny"]) == {a.name for a in ARITHMETICS + COMPILED} and all(v > 0 for v in table["tiny"].values())
    assert len(compiled) == len(COMPILED)  # the compiled variants, and only they, went through torch.compile


@pytest.mark.parametrize("signame, code, word", [("SIGTERM", 143, "terminated"), ("SIGINT", 130, "interrupted")])
def test_a_signal_stops_training_with_one_line_and_the_same_command_resumes(tmp_path, signame, code, word):
    import signal

    from tests.processes import stop_after_start

    write_w300_folder(tmp_path / "w300", 6)
    cmd = [sys.executable, "-m", "tracker", "train", "--data", "300w", "--root", "w300", "--preset", "tiny", "--run-dir", "run",
           "--cache-dir", "cache", "--device", "cpu", "--stages", "baseline", "--baseline-epochs", "100000"]
    proc, _ = stop_after_start(cmd, getattr(signal, signame), tmp_path, tmp_path / "run" / "log.jsonl", timeout=120)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"{word}: ") and "Traceback" not in proc.stderr
    done = len((tmp_path / "run" / "log.jsonl").read_text().splitlines())
    resumed = subprocess.run([*cmd, "--epoch-budget", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{done} epochs done" in resumed.stderr
