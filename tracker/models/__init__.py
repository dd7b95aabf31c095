from tracker.models.face_check import FaceCheck, FaceCheckConfig
from tracker.models.ghcu import GHCU, GHCUConfig
from tracker.models.hourglass import HourglassConfig, StackedHourglass
from tracker.models.weights import LandmarkModel, WeightsError, load_weights, save_weights

__all__ = [
    "FaceCheck", "FaceCheckConfig", "GHCU", "GHCUConfig", "HourglassConfig", "StackedHourglass",
    "LandmarkModel", "WeightsError", "load_weights", "save_weights",
]
