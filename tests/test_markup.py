import numpy as np

from tests.conftest import symmetric_shape
from tracker.markup import EDGES, FLIP_PERMUTATION, GROUPS, NAMES, NUM_POINTS, WEAK_SEMANTIC, eye_centres, flip_points


def test_groups_partition_the_68_points():
    covered = sorted(i for g in GROUPS.values() for i in g)
    assert covered == list(range(NUM_POINTS))
    assert len(set(NAMES)) == NUM_POINTS


def test_flip_permutation_is_an_involution_with_the_right_fixed_points():
    assert np.array_equal(FLIP_PERMUTATION[FLIP_PERMUTATION], np.arange(NUM_POINTS))
    fixed = set(np.flatnonzero(FLIP_PERMUTATION == np.arange(NUM_POINTS)))
    # chin, nose bridge (4), nose base centre, upper/lower lip centres (outer and inner)
    assert fixed == {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}
    assert FLIP_PERMUTATION[36] == 45 and FLIP_PERMUTATION[48] == 54 and FLIP_PERMUTATION[0] == 16


def test_flipping_a_symmetric_face_gives_the_same_face():
    pts = symmetric_shape(np.random.default_rng(0), centre=49.5, half_width=30)
    np.testing.assert_allclose(flip_points(pts, width=100), pts, atol=1e-9)


def test_flip_twice_is_identity_and_moves_right_eye_to_left():
    pts = np.random.default_rng(1).uniform(0, 100, (NUM_POINTS, 2))
    once = flip_points(pts, 100)
    np.testing.assert_allclose(flip_points(once, 100), pts)
    np.testing.assert_allclose(once[45, 0], 99 - pts[36, 0])


def test_edges_close_eyes_and_mouth_and_stay_in_range():
    assert (41, 36) in EDGES and (47, 42) in EDGES and (59, 48) in EDGES and (67, 60) in EDGES
    assert all(0 <= a < NUM_POINTS and 0 <= b < NUM_POINTS for a, b in EDGES)
    assert (16, 17) not in EDGES  # jaw and brow are separate polylines


def test_eye_centres_are_means_of_six_points():
    pts = np.zeros((NUM_POINTS, 2))
    pts[36:42] = [[0, 0], [2, 0], [4, 0], [6, 0], [2, 2], [4, 2]]
    pts[42:48] = 10
    right, left = eye_centres(pts)
    np.testing.assert_allclose(right, [3, 2 / 3])
    np.testing.assert_allclose(left, [10, 10])
    assert len(WEAK_SEMANTIC) == 17 + 10 + 4
