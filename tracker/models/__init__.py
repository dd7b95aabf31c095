from tracker.models.ghcu import GHCU, GHCUConfig
from tracker.models.hourglass import HourglassConfig, StackedHourglass
from tracker.models.weights import LandmarkModel, WeightsError, load_weights, save_weights

__all__ = [
    "GHCU", "GHCUConfig", "HourglassConfig", "StackedHourglass",
    "LandmarkModel", "WeightsError", "load_weights", "save_weights",
]
