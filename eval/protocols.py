"""The evaluation protocols as functions: the predictor a setting means, 300-W stills, 300-VW videos."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tracker.metrics import box_size, labelled_box, nme, signed_error_per_point
from tracker.eval.report import summarise
from tracker.tables import format_table
from tracker.eval.still import still_errors
from tracker.network.still_faces import predict_faces
from tracker.defaults import DEFAULT_DETECTOR
from tracker.errors import InputError
from tracker.detection import create_detector
from tracker.network.factory import PredictorConfig, build_predictor
from tracker.network.options import GraphOptions
from tracker.network.crop_predictor import CropPredictor
from tracker.tracking.face_tracker import FaceTracker, TrackerConfig

log = logging.getLogger(__name__)

def make_predictor(
    weights: Path | None, ghcu: bool, device: str, flip_test: bool = False, stacks: int | None = None,
) -> CropPredictor:
    """The predictor ``tracker run`` would use for these settings (ONNX Runtime on a CPU, PyTorch on a GPU)."""
    options = GraphOptions(ghcu=ghcu, flip_test=flip_test, num_stacks=stacks)
    predictor = build_predictor(PredictorConfig(weights, device, options))
    if ghcu and not predictor.has_ghcu:
        log.warning("these weights have no GHCU; evaluating the hourglass alone")
    return predictor


def evaluate_300w(
    root: Path, subset: str, predictor: CropPredictor, norm: bool = False, mirror: bool = False,
) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    """``mirror``: every face mirrored left-right, annotations with it (a check of the annotations'
    horizontal convention: a shift that belongs to the annotations changes sign there)."""
    from tracker.datasets import mirror_face, w300

    load = w300.load_split(root, subset)
    faces = [mirror_face(f) for f in load.faces] if mirror else load.faces
    predictions = predict_faces(predictor, faces, norm)
    errors = still_errors(predictions, faces)
    result = {"protocol": "300w", "subset": subset, **summarise(errors, "nme_ip"), "absent": [w300.FOLDERS[m] for m in load.missing]}
    per_point = signed_error_per_point(predictions, np.stack([f.points for f in faces])) * 100
    result["signed_per_point_ip"] = per_point.round(4).tolist()  # (68, 2): x, y in % of the inter-pupil distance
    return result, errors, load.describe_missing()


BOX_RULES = ("detector", "ground-truth")


def evaluate_images(
    root: Path, boxes: str, weights: Path | None, ghcu: bool, device: str, detector: str = DEFAULT_DETECTOR,
    dlib: bool = False,
) -> dict[str, Any]:
    """Any folder of image + ``.pts`` pairs. ``ground-truth``: the protocol box (the canonical crop of
    the annotation), as ``evaluate_300w``. ``detector``: the product's own still path
    (``tracker.Landmarker``: an exhaustive detector search, the face check, the levelled second pass),
    scoring the found face whose landmark box overlaps the annotation's best; a face that no kept
    detection overlaps is a failure (counted in the failure rates, left out of the means). ``dlib``
    adds dlib's 68-point model after its own HOG detector under the detector rule. One row per method."""
    from tracker.api import Landmarker
    from tracker.datasets.folder import load_folder

    if boxes not in BOX_RULES:
        raise InputError(f"--boxes is one of {', '.join(BOX_RULES)}, not {boxes!r}")
    faces = load_folder(root)
    gt = np.stack([f.points for f in faces])
    rows = {}
    if boxes == "ground-truth":
        rows["sa-tracker"] = _image_row(predict_faces(make_predictor(weights, ghcu, device), faces), gt)
    else:
        with Landmarker(weights, device, detector, network=GraphOptions(ghcu=ghcu)) as landmarker:
            rows["sa-tracker"] = _image_row(_best_matches(faces, gt, lambda image: [f.points for f in landmarker.landmarks(image)]), gt)
    if dlib:
        from tracker.eval.peers import DlibPeer

        rows["dlib (its own detector)"] = _image_row(_best_matches(faces, gt, DlibPeer().faces), gt)
    return {"protocol": "images", "root": str(root), "boxes": boxes, "rows": rows}


def _best_matches(faces: list, gt: np.ndarray, find: Callable[[np.ndarray], list[np.ndarray]]) -> np.ndarray:
    """Each face's prediction: of the shapes ``find`` returns for its image, the one whose landmark box
    overlaps the annotation's labelled box best; ``inf`` where none overlaps it."""
    from tracker.datasets import load_face_image
    from tracker.detection.base import iou

    predictions = np.full(gt.shape, np.inf)
    for i, face in enumerate(faces):
        truth = tuple(labelled_box(gt[i : i + 1])[0])
        found = find(load_face_image(face))
        overlaps = [iou(tuple(labelled_box(points[None])[0]), truth) for points in found]
        if overlaps and max(overlaps) > 0:
            predictions[i] = found[int(np.argmax(overlaps))]
    return predictions


def _image_row(predictions: np.ndarray, gt: np.ndarray) -> dict[str, Any]:
    visible = np.isfinite(gt).all(axis=-1)
    errors = {"nme_ip": nme(predictions, gt, "inter_pupil", visible=visible),
              "nme_io": nme(predictions, gt, "inter_ocular", visible=visible)}
    missed = ~np.isfinite(predictions).all(axis=(1, 2))
    for values in errors.values():
        values[missed] = np.inf
    row = summarise(errors, "nme_ip")
    row["n_found"] = row["n_faces"] - row["n_missed"]
    return row


YAW_BANDS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))  # |yaw| in degrees, as 3DDFA-style AFLW tables band it


def labelled_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per-face errors over the labelled (finite) points of ``gt``: NME over the labelled points' box size
    (``nme_box``, every face), inter-ocular NME where both outer eye corners are labelled (``nme_io``, NaN
    elsewhere), and the mean signed error in x and y over the box size (``signed_x_box``, ``signed_y_box``)."""
    labelled = np.isfinite(gt).all(axis=-1)
    size = box_size(labelled_box(gt))
    errors = {"nme_box": nme(pred, gt, "box", boxes=labelled_box(gt), visible=labelled)}
    errors["nme_io"] = nme(pred, gt, "inter_ocular", visible=labelled)
    signed = np.where(labelled[..., None], pred - gt, 0.0).sum(axis=1) / np.maximum(labelled.sum(axis=1), 1)[:, None]
    errors["signed_x_box"], errors["signed_y_box"] = signed[:, 0] / size, signed[:, 1] / size
    return errors


def evaluate_merlrav(root: Path, split: str, predictor: CropPredictor) -> dict[str, Any]:
    """AFLW_MERLRAV's 68 points: ``labelled_errors`` over all faces and by |yaw| band (``faces.csv``), each
    face framed by its image (``tracker.datasets.merlrav``)."""
    from tracker.datasets import merlrav

    faces = merlrav.load(root, split)
    pred = predict_faces(predictor, faces)
    gt = np.stack([f.points for f in faces])
    errors = labelled_errors(pred, gt)
    table = merlrav.face_table(root)
    yaw = np.array([abs(float(table[f"{merlrav.SPLITS[split]}/{f.image_path.stem}"]["yaw_deg"]))
                    if f"{merlrav.SPLITS[split]}/{f.image_path.stem}" in table else np.nan for f in faces])
    rows = {"all": summarise(errors, "nme_box")}
    for lo, hi in YAW_BANDS:
        members = (yaw >= lo) & (yaw < hi) if hi < YAW_BANDS[-1][1] else (yaw >= lo)
        if members.any():
            rows[f"|yaw| {lo:.0f}-{hi:.0f}"] = summarise({k: v[members] for k, v in errors.items()}, "nme_box")
    signed = np.where(np.isfinite(gt), pred - gt, np.nan) / box_size(labelled_box(gt))[:, None, None]
    with np.errstate(all="ignore"):
        per_point = np.nanmean(signed, axis=0) * 100
    return {"protocol": "aflw_merlrav", "split": split, "normaliser": "sqrt(w*h) of the labelled points' box",
            "rows": rows, "signed_per_point_box": np.nan_to_num(per_point).round(4).tolist(), **rows["all"]}


def video_table(result: dict[str, Any]) -> str:
    rows = {f"video {k}": v for k, v in result["per_video"].items()}
    rows.update({f"category {k}": v for k, v in result["per_category"].items()})
    rows["all"] = result
    return format_table(rows, ("n_frames", "n_missed", "n_stray", "nme_io", "nme_io_49", "auc_0.08", "fr_0.08"))


def evaluate_300vw(
    root: Path, category: str, videos: str | None, predictor: CropPredictor, tracking: TrackerConfig,
    init: str, detector: str = DEFAULT_DETECTOR,
) -> tuple[dict[str, Any], list[str]]:
    from tracker.eval.video import evaluate_sequence
    from tracker.datasets import vw300

    if videos == "found":
        sequences, absent = vw300.find_sequences(root)
        groups = {"found": [s.name for s in sequences]}
        for seq in sequences:  # make-sequences names videos <level>_<face>: one group per level
            prefix, _, rest = seq.name.partition("_")
            if rest and prefix.isdigit():
                groups.setdefault(f"level {prefix}", []).append(seq.name)
    elif videos:
        names = [v.strip() for v in videos.split(",") if v.strip()]
        sequences, absent = vw300.find_sequences(root, names)
        groups = {"selected": names}
    else:
        cats = [1, 2, 3] if category == "all" else [int(category)]
        wanted = [v for c in cats for v in vw300.CATEGORIES[c]]
        sequences, absent = vw300.find_sequences(root, wanted)
        groups = {str(c): list(vw300.CATEGORIES[c]) for c in cats}
    if not sequences:
        raise FileNotFoundError(f"no 300-VW sequences (vid.avi or imgs/ with annot/) found under {root}")
    dev = predictor.device_type

    def make_tracker() -> FaceTracker:
        return FaceTracker(predictor, create_detector(detector), tracking)

    per_video = {}
    all_errors: dict[str, list[np.ndarray]] = {}
    by_name = {}
    for seq in sequences:
        res = evaluate_sequence(seq, make_tracker, init)  # type: ignore[arg-type]
        by_name[seq.name] = res
        per_video[seq.name] = {**summarise(res.errors, "nme_io", "n_frames"), "n_stray": res.stray_frames}
        for k, v in res.errors.items():
            all_errors.setdefault(k, []).append(v)
    per_category = {}
    for group, names in groups.items():
        present = [by_name[n] for n in names if n in by_name]
        if present:
            errs = {k: np.concatenate([r.errors[k] for r in present]) for k in present[0].errors}
            per_category[group] = {**summarise(errs, "nme_io", "n_frames"), "n_stray": sum(r.stray_frames for r in present)}
    overall = {k: np.concatenate(v) for k, v in all_errors.items()}
    result = {
        "protocol": "300vw", "category": videos or category, "init": init, "device": dev,
        **summarise(overall, "nme_io", "n_frames"), "n_stray": sum(r.stray_frames for r in by_name.values()), "per_category": per_category, "per_video": per_video,
        "absent": absent,
    }
    return result, absent
