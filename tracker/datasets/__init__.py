"""Readers for the official dataset layouts; shared by training and evaluation."""
from tracker.datasets.faces import FaceSample, load_face_image, load_image_rgb, mirror_face, protocol_crop

W300 = "300w"
# A face's dataset from its subset's prefix (``FaceSample.subset``: e.g. ``merlrav_train``, ``aflw_full``,
# ``300vw_001``); 300-W's subsets are named after its folders (``lfpw_test``, ``helen_train``, ``afw``).
DATASET_PREFIXES = ("merlrav", "aflw", "300vw")


def dataset_of(name: str) -> str:
    """The dataset of a face, from its subset or its ``subset/stem`` name: 300w, merlrav, aflw, 300vw or the subset."""
    subset = name.split("/", 1)[0]
    for prefix in DATASET_PREFIXES:
        if subset.startswith(prefix + "_"):
            return prefix
    from tracker.datasets.w300 import FOLDERS

    return W300 if subset in FOLDERS else subset


__all__ = ["DATASET_PREFIXES", "FaceSample", "W300", "dataset_of", "load_face_image", "load_image_rgb", "mirror_face", "protocol_crop"]
