"""The options that shape the per-crop computation besides the weights (no PyTorch import)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GraphOptions:
    """What changes the landmark graph besides the weights (the ``tracker run`` options that reach the network)."""

    ghcu: bool = True
    flip_test: bool = False
    num_stacks: int | None = None  # only the first stacks of the hourglass; None: all
    dark_decoding: bool = True  # DARK's smoothing before the sub-pixel step (tracker.network.codec.modulate); off: the plain step
