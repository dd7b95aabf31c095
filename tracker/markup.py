"""The 68-point iBUG markup: one definition of names, groups, flip permutation and drawing edges.

Indices are 0-based here; the literature (and ``.pts`` files) number points from 1.
"""
from __future__ import annotations

import numpy as np

NUM_POINTS = 68

GROUPS: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),  # subject's right, image left
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nose_base": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_mouth": range(48, 60),
    "inner_mouth": range(60, 68),
}
CLOSED_GROUPS = frozenset({"right_eye", "left_eye", "outer_mouth", "inner_mouth"})

# Outer eye corners (1-based 37 and 46): the 300-VW / inter-ocular normaliser.
RIGHT_EYE_OUTER = 36
LEFT_EYE_OUTER = 45

# Weak-semantic points (contour, brows, nose bridge): where annotations are noisiest (SA paper, Fig. 1).
WEAK_SEMANTIC = tuple(
    i for name in ("jaw", "right_brow", "left_brow", "nose_bridge") for i in GROUPS[name]
)


def _build_names() -> tuple[str, ...]:
    names = []
    for group, idx in GROUPS.items():
        names.extend(f"{group}_{k}" for k in range(len(idx)))
    return tuple(names)


NAMES: tuple[str, ...] = _build_names()


def _build_flip() -> np.ndarray:
    """Index permutation that maps a horizontally mirrored face back to the markup."""
    perm = np.arange(NUM_POINTS)
    pairs: list[tuple[int, int]] = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nose base
    # eyes: 36..41 <-> 45,44,43,42,47,46
    pairs += list(zip(range(36, 42), (45, 44, 43, 42, 47, 46)))
    # outer mouth: 48..54 mirror around 51, 55..59 mirror around 57
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    # inner mouth: 60..64 mirror around 62, 65..67 mirror around 66
    pairs += [(60, 64), (61, 63), (65, 67)]
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


FLIP_PERMUTATION: np.ndarray = _build_flip()


def _build_edges() -> tuple[tuple[int, int], ...]:
    edges: list[tuple[int, int]] = []
    for name, idx in GROUPS.items():
        ids = list(idx)
        edges.extend(zip(ids[:-1], ids[1:]))
        if name in CLOSED_GROUPS:
            edges.append((ids[-1], ids[0]))
    edges.append((30, 33))  # nose tip to base centre
    return tuple(edges)


EDGES: tuple[tuple[int, int], ...] = _build_edges()


# AFLW's 19-point markup (brows 1-6, eyes 7-12, nose 13-15, mouth 16-18, chin 19), 0-based pairs.
AFLW19_PAIRS = ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17))


def _permutation(n: int, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    perm = np.arange(n)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


AFLW19_FLIP_PERMUTATION = _permutation(19, AFLW19_PAIRS)


def flip_permutation(num_points: int) -> np.ndarray:
    """The left-right permutation of a markup, chosen by its number of points (68 iBUG, 19 AFLW)."""
    table = {NUM_POINTS: FLIP_PERMUTATION, 19: AFLW19_FLIP_PERMUTATION}
    if num_points not in table:
        raise ValueError(f"no flip permutation known for a {num_points}-point markup")
    return table[num_points]


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pupil estimates: mean of each eye's six points. ``points`` is (..., 68, 2)."""
    right = points[..., GROUPS["right_eye"].start : GROUPS["right_eye"].stop, :].mean(axis=-2)
    left = points[..., GROUPS["left_eye"].start : GROUPS["left_eye"].stop, :].mean(axis=-2)
    return right, left


def flip_points(points: np.ndarray, width: float) -> np.ndarray:
    """Mirror landmarks for an image of ``width`` pixels flipped left-right (0-based pixel centres)."""
    flipped = points[..., flip_permutation(points.shape[-2]), :].copy()
    flipped[..., 0] = width - 1 - flipped[..., 0]
    return flipped
