"""Face detectors behind one small interface (``FaceDetector``), created by name from a registry that
packages can extend; each maps its detections to the network's canonical crop with its own calibration."""
from tracker.detection.base import (
    KEYPOINT_NAMES, Box, BoxCalibration, Calibration, Detection, FaceDetector, KeypointCalibration, similarity_crop,
)
from tracker.detection.haar import HAAR_CALIBRATION, HaarDetector, HaarSettings
from tracker.detection.mtcnn import MTCNN_CALIBRATION, MtcnnDetector, MtcnnSettings
from tracker.detection.registry import DETECTOR_GROUP, available_detectors, create_detector, register_detector

__all__ = [
    "KEYPOINT_NAMES", "Box", "BoxCalibration", "Calibration", "Detection", "FaceDetector", "KeypointCalibration",
    "similarity_crop", "HAAR_CALIBRATION", "HaarDetector", "HaarSettings", "MTCNN_CALIBRATION", "MtcnnDetector",
    "MtcnnSettings", "DETECTOR_GROUP", "available_detectors", "create_detector", "register_detector",
]
