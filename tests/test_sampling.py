"""Mixed epochs: every 300-W face once, the other dataset cycling without repeats, reproducibly."""
import numpy as np
import pytest

from tracker.train.sampling import MixedEpochSampler

DATASETS = np.array(["300w"] * 10 + ["merlrav"] * 20)


def _epoch(sampler: MixedEpochSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_each_epoch_holds_every_primary_face_once_at_its_share():
    sampler = MixedEpochSampler(DATASETS, "300w", 0.5)
    drawn = _epoch(sampler, 3)
    assert len(drawn) == len(sampler) == 20
    assert sorted(i for i in drawn if i < 10) == list(range(10))
    assert len(set(drawn)) == 20


def test_the_others_are_all_drawn_once_before_any_twice_and_epochs_replay():
    sampler = MixedEpochSampler(DATASETS, "300w", 0.5)
    others = [[i for i in _epoch(sampler, e) if i >= 10] for e in range(4)]  # 10 a epoch of 20 faces
    assert sorted(others[0] + others[1]) == list(range(10, 30)) == sorted(others[2] + others[3])
    assert others[0] != others[2]  # a new permutation each cycle
    assert _epoch(sampler, 2) == _epoch(MixedEpochSampler(DATASETS, "300w", 0.5), 2)  # a resume sees the same
    assert _epoch(sampler, 2) != _epoch(sampler, 3)


def test_ranks_split_an_epoch_without_overlap():
    ranks = [MixedEpochSampler(DATASETS, "300w", 0.5, rank=r, world_size=2) for r in range(2)]
    halves = [_epoch(s, 1) for s in ranks]
    assert set(halves[0]).isdisjoint(halves[1]) and len(halves[0]) == len(halves[1]) == 10


def test_a_share_without_its_dataset_is_refused():
    with pytest.raises(ValueError, match="no training face"):
        MixedEpochSampler(np.array(["merlrav"] * 4), "300w", 0.5)
    with pytest.raises(ValueError, match="share"):
        MixedEpochSampler(DATASETS, "300w", 0.0)
