"""Which training faces an epoch visits: every face once, or a fixed share from one dataset.

Mixed training (300-W beside AFLW_MERLRAV, 5.5x as many faces, annotated by other people) lets the
larger set set the convention. ``MixedEpochSampler`` makes each epoch every face of the primary
dataset once plus as many faces of the others as keep the primary at ``share`` of the epoch; the
others cycle through all their faces over successive epochs (a fresh permutation each cycle), so no
face is drawn twice before all were drawn once. Deterministic in (seed, epoch): a resumed run sees
the same faces; under torchrun each rank takes every ``world_size``-th index.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class MixedEpochSampler(Sampler[int]):
    def __init__(
        self, datasets: np.ndarray, primary: str, share: float, seed: int = 0, rank: int = 0, world_size: int = 1,
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"the primary dataset's share of an epoch must be in (0, 1], not {share}")
        self.primary = np.flatnonzero(datasets == primary)
        if not len(self.primary):
            raise ValueError(f"no training face is from {primary}, so it cannot make {share:.0%} of an epoch")
        self.others = np.flatnonzero(datasets != primary)
        self.per_epoch_others = min(len(self.others), round(len(self.primary) * (1.0 - share) / share))
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        """The whole epoch's face indices (every rank's), in the order drawn."""
        rng = np.random.default_rng([self.seed, self.epoch])
        picked = [self.primary, self._others_of_epoch()]
        return rng.permutation(np.concatenate(picked))

    def _others_of_epoch(self) -> np.ndarray:
        """Positions [epoch * k, (epoch + 1) * k) of an endless stream of permutations of the others."""
        k, n = self.per_epoch_others, len(self.others)
        if not k:
            return self.others[:0]
        start = self.epoch * k
        cycles = range(start // n, (start + k - 1) // n + 1)
        stream = np.concatenate([self.others[np.random.default_rng([self.seed, 1, c]).permutation(n)] for c in cycles])
        offset = start - cycles[0] * n
        return stream[offset : offset + k]

    def __iter__(self) -> Iterator[int]:
        mine = self.epoch_indices()[: len(self) * self.world_size][self.rank :: self.world_size]
        return iter(mine.tolist())

    def __len__(self) -> int:
        return (len(self.primary) + self.per_epoch_others) // self.world_size
