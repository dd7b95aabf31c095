"""Detectors by name: the built-in ones plus any a package registers under the
``sa_tracker.detectors`` entry-point group or through :func:`register_detector`."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import entry_points

from tracker.errors import InputError
from tracker.defaults import DEFAULT_DETECTOR
from tracker.detection.base import FaceDetector
from tracker.detection.haar import HaarDetector
from tracker.detection.mtcnn import MtcnnDetector

DETECTOR_GROUP = "sa_tracker.detectors"

_REGISTRY: dict[str, Callable[[], FaceDetector]] = {"haar": HaarDetector, "mtcnn": MtcnnDetector}


def register_detector(name: str, factory: Callable[[], FaceDetector]) -> None:
    _REGISTRY[name] = factory


def available_detectors() -> list[str]:
    names = set(_REGISTRY)
    names.update(ep.name for ep in entry_points(group=DETECTOR_GROUP))
    return sorted(names)


def create_detector(name: str = DEFAULT_DETECTOR) -> FaceDetector:
    if name in _REGISTRY:
        try:
            return _REGISTRY[name]()
        except ImportError as err:  # a built-in detector's optional package is missing: the cascade always works
            warnings.warn(f"detector {name!r} unavailable ({err}); using 'haar'", stacklevel=2)
            return HaarDetector()
    for ep in entry_points(group=DETECTOR_GROUP):
        if ep.name == name:
            return ep.load()()
    raise InputError(f"unknown detector {name!r}; available: {', '.join(available_detectors())}")
