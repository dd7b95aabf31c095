import numpy as np
import pytest

from tracker.io.pts import PtsFormatError, format_pts, read_pts, write_pts


def test_round_trip_and_one_based_convention(tmp_path):
    pts = np.random.default_rng(0).uniform(0, 500, (68, 2)).round(3)
    write_pts(tmp_path / "a.pts", pts)
    np.testing.assert_allclose(read_pts(tmp_path / "a.pts"), pts, atol=1e-9)
    first = format_pts(np.array([[0.0, 0.0]])).splitlines()[3]
    assert first == "1.000 1.000"  # pixel (0, 0) is written as (1, 1)


def test_reads_300vw_header_variants(tmp_path):
    (tmp_path / "b.pts").write_text("version: 1.0\nn_points:  2\n{\n10 20\n30.5 40.25\n}\n")
    np.testing.assert_allclose(read_pts(tmp_path / "b.pts"), [[9, 19], [29.5, 39.25]])


@pytest.mark.parametrize(
    "text",
    ["version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n", "no header at all\n", "version: 1\nn_points: 1\n{\nx y\n}\n", "version: 1\nn_points: 1\n{\n1 2\n"],
)
def test_malformed_files_raise_a_clear_error(tmp_path, text):
    path = tmp_path / "bad.pts"
    path.write_text(text)
    with pytest.raises(PtsFormatError, match="bad.pts"):
        read_pts(path)


def test_binary_file_is_a_format_error(tmp_path):
    path = tmp_path / "bin.pts"
    path.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(PtsFormatError):
        read_pts(path)
