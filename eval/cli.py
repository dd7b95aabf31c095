"""``tracker eval``: the paper's protocols and the stress benchmarks, each one command."""
from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from tracker.defaults import DEFAULT_DETECTOR
from tracker.cli_shared import DEFAULT_DEVICE, DeviceOpt, FlipOpt, GhcuOpt, SmoothOpt, StacksOpt, WeightsOpt, user_errors
from tracker.errors import InputError

app = typer.Typer(help="Evaluate on the 300-W, AFLW and 300-VW protocols.", no_args_is_help=True)

JsonOpt = Annotated[Path | None, typer.Option("--json", help="write the results as JSON")]
CedOpt = Annotated[Path | None, typer.Option("--ced", help="write the cumulative error distribution plot (PNG)")]
NormOpt = Annotated[bool, typer.Option("--norm", help="predict again on the crop levelled by the first answer's eye line (the paper's +Norm; 2x the time)")]
COLUMNS = ("n_faces", "nme_ip", "nme_io", "auc_0.08", "fr_0.08", "auc_0.10", "fr_0.10")


class W300Subset(str, Enum):
    common = "common"
    challenge = "challenge"
    full = "full"
    train = "train"  # the training faces: error here against common shows whether the model fits
    lfpw_test = "lfpw_test"
    lfpw_train = "lfpw_train"  # LFPW's training half: the like-for-like fit check against LFPW test
    helen_train = "helen_train"
    afw = "afw"


@app.command("300w")
def eval_300w(
    root: Annotated[Path, typer.Option(help="300-W root with lfpw/ helen/ afw/ ibug/")],
    subset: Annotated[W300Subset, typer.Option(help="common | challenge | full | train | lfpw_test | lfpw_train | helen_train | afw")] = W300Subset.common,
    weights: WeightsOpt = None, ghcu: GhcuOpt = True, device: DeviceOpt = DEFAULT_DEVICE,
    json: JsonOpt = None, ced: CedOpt = None, flip_test: FlipOpt = False, stacks: StacksOpt = None, norm: NormOpt = False,
    mirror: Annotated[bool, typer.Option("--mirror", help="evaluate on the faces mirrored left-right (annotations too)")] = False,
) -> None:
    """NME (inter-pupil and inter-ocular), AUC, failure rate and the mean signed error in x and y (% of the
    inter-pupil distance); box = canonical crop of the ground truth."""
    from tracker.eval.protocols import evaluate_300w, make_predictor
    from tracker.eval.report import plot_ced, write_json
    from tracker.tables import format_table

    with user_errors((ImportError,)):
        predictor = make_predictor(weights, ghcu, device, flip_test, stacks)
        result, errors, note = evaluate_300w(root, subset.value, predictor, norm, mirror)
        result["mirror"] = mirror
        result["norm"] = norm
        result["flip_test"] = flip_test
        result["stacks"] = stacks
        if note:
            typer.echo(f"note: {note}")
        typer.echo(format_table({f"300-W {subset.value}": result}, (*COLUMNS, "signed_x_ip", "signed_y_ip")))
        if json:
            write_json(json, result)
        if ced:
            plot_ced({"inter-pupil": errors["nme_ip"]}, 0.08, ced, "NME, inter-pupil")


@app.command("decoder-floor")
def eval_decoder_floor(
    root: Annotated[Path, typer.Option(help="300-W root")],
    subset: Annotated[W300Subset, typer.Option(help="which 300-W faces")] = W300Subset.lfpw_test,
    weights: WeightsOpt = None,
    json: JsonOpt = None,
) -> None:
    """The NME (%) of the ground truth itself, encoded as the training heatmap on ``weights``' grid and
    decoded as the predictor decodes (dark), without DARK's modulation (taylor), and as the integer peak
    (argmax): the floor no network on that grid can go under."""
    from tracker.datasets import w300
    from tracker.eval.decoder_floor import DECODERS, decoded_ground_truth
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.eval.still import still_errors
    from tracker.network.weights_registry import load_model

    with user_errors((ImportError,)):
        config = load_model(weights).config
        faces = w300.load_split(root, subset.value).faces
        rows = {}
        for decoder in DECODERS:
            errors = still_errors(decoded_ground_truth(faces, config.input_size, config.heatmap_stride, decoder), faces)
            rows[f"{config.heatmap_size}x{config.heatmap_size} {decoder}"] = {
                "n_faces": len(faces), "nme_ip": f"{errors['nme_ip'].mean() * 100:.4f}",
                "nme_ip_max": f"{errors['nme_ip'].max() * 100:.4f}", "nme_io": f"{errors['nme_io'].mean() * 100:.4f}"}
        typer.echo(format_table(rows, ("n_faces", "nme_ip", "nme_ip_max", "nme_io")))
        if json:
            write_json(json, {"subset": subset.value, "input_size": config.input_size, "rows": rows})


class MerlravSplit(str, Enum):
    test = "test"
    train = "train"  # the training faces: error here against test shows whether the model fits


@app.command("merlrav")
def eval_merlrav(
    root: Annotated[Path, typer.Option(help="AFLW_MERLRAV folder (trainset/, testset/, faces.csv)")],
    split: Annotated[MerlravSplit, typer.Option(help="test | train")] = MerlravSplit.test,
    weights: WeightsOpt = None, ghcu: GhcuOpt = True, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
) -> None:
    """AFLW faces with MERL-RAV's 68 points (self-occluded points left out): NME over the labelled points'
    box size sqrt(w*h), inter-ocular NME where both outer eye corners are labelled, the mean signed error
    (x, y; % of the box size), overall and by |yaw| band."""
    from tracker.eval.protocols import evaluate_merlrav, make_predictor
    from tracker.eval.report import write_json
    from tracker.tables import format_table

    with user_errors((ImportError,)):
        result = evaluate_merlrav(root, split.value, make_predictor(weights, ghcu, device))
        typer.echo(f"AFLW_MERLRAV {split.value}; nme_box: normalised by {result['normaliser']}")
        typer.echo(format_table(result["rows"], ("n_faces", "nme_box", "nme_io", "auc_0.08", "fr_0.08", "signed_x_box", "signed_y_box")))
        if json:
            write_json(json, result)


@app.command("images")
def eval_images(
    root: Annotated[Path, typer.Argument(help="a folder of images with 300-W .pts files beside them (-1 -1: unlabelled)")],
    boxes: Annotated[str, typer.Option(help="detector: the product's own detector, as Landmarker finds faces | ground-truth: the canonical crop of the annotation")] = "detector",
    weights: WeightsOpt = None, ghcu: GhcuOpt = True, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
    detector: Annotated[str, typer.Option(help="face detector plugin (with --boxes detector)")] = DEFAULT_DETECTOR,
    dlib: Annotated[bool, typer.Option("--dlib/--no-dlib", help="add dlib's 68-point model after its own detector, under the detector rule (pip install '.[peers]')")] = False,
) -> None:
    """Any folder of annotated stills, as a user meets it: inter-pupil and inter-ocular NME, AUC, failure
    rates and the faces found (with --boxes detector a face no detection overlaps is a failure)."""
    from tracker.eval.protocols import evaluate_images
    from tracker.eval.report import write_json
    from tracker.tables import format_table

    with user_errors((ImportError,)):
        result = evaluate_images(root, boxes, weights, ghcu, device, detector, dlib)
        typer.echo(f"{root}: {boxes} boxes")
        typer.echo(format_table(result["rows"], ("n_faces", "n_found", *COLUMNS[1:])))
        if json:
            write_json(json, result)


class AflwSubset(str, Enum):
    full = "full"
    frontal = "frontal"


@app.command("aflw")
def eval_aflw(
    mat: Annotated[Path, typer.Option(help="AFLWinfo_release.mat")],
    images: Annotated[Path, typer.Option(help="AFLW image folder")],
    subset: Annotated[AflwSubset, typer.Option(help="full | frontal")] = AflwSubset.full,
    weights: WeightsOpt = None, ghcu: GhcuOpt = True, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
) -> None:
    """Face-size NME (sqrt(w*h) of the AFLW box) over visible points; needs 19-point weights."""
    from tracker.eval.protocols import make_predictor
    from tracker.eval.report import summarise, write_json
    from tracker.tables import format_table
    from tracker.eval.still import still_errors
    from tracker.network.still_faces import predict_faces
    from tracker.datasets import aflw

    with user_errors((ImportError,)):
        faces = aflw.load(mat, images, subset.value)
        predictor = make_predictor(weights, ghcu, device)
        if predictor.num_points != aflw.NUM_AFLW_POINTS:
            raise InputError("AFLW needs weights trained on its 19-point markup (tracker train --data aflw)")
        faces = [f for f in faces if f.visible is None or f.visible.any()]  # a face with no visible point cannot be scored
        errors = still_errors(predict_faces(predictor, faces), faces, with_box=True)
        result = {"protocol": "aflw", "subset": subset.value, **summarise(errors, "nme_box")}
        typer.echo(format_table({f"AFLW {subset.value}": result}, ("n_faces", "nme_box", "auc_0.08", "fr_0.08")))
        if json:
            write_json(json, result)


@app.command("300vw")
def eval_300vw(
    root: Annotated[Path, typer.Option(help="folder of 300-VW videos: <id>/vid.avi or <id>/imgs/, with <id>/annot/")],
    category: Annotated[str, typer.Option(help="1 | 2 | 3 | all (the official test lists)")] = "all",
    videos: Annotated[str | None, typer.Option(help="ID,ID,... or 'found' for every video folder under the root")] = None,
    init: Annotated[str, typer.Option(help="detector | ground-truth: what starts each video's track")] = "detector",
    weights: WeightsOpt = None, ghcu: GhcuOpt = True, smooth: SmoothOpt = True, device: DeviceOpt = DEFAULT_DEVICE,
    json: JsonOpt = None,
    detector: Annotated[str, typer.Option(help="face detector plugin")] = DEFAULT_DETECTOR,
    min_face_score: Annotated[float | None, typer.Option(help="face score below which a face is dropped (default: the model's)")] = None,
) -> None:
    """Track each test video as a video and score annotated frames (outer-eye-corner normalised)."""
    from tracker.eval.protocols import evaluate_300vw, make_predictor, video_table
    from tracker.eval.report import write_json
    from tracker.tracking.face_tracker import TrackerConfig

    with user_errors((ImportError,)):
        if category not in ("1", "2", "3", "all"):
            raise InputError(f"--category must be 1, 2, 3 or all, not {category!r}")
        if init not in ("detector", "ground-truth"):
            raise InputError("--init must be detector or ground-truth")
        tracking = replace(TrackerConfig(), smoothing=smooth, min_face_score=min_face_score)
        result, absent = evaluate_300vw(root, category, videos, make_predictor(weights, ghcu, device), tracking, init, detector)
        if absent:
            typer.echo(f"note: {len(absent)} requested video(s) absent under {root}: {', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}")
        typer.echo(f"initialisation: {init}")
        typer.echo(video_table(result))
        if json:
            write_json(json, result)


@app.command("ablation")
def ablation(
    root: Annotated[Path, typer.Option(help="300-W root")],
    hg: Annotated[Path, typer.Option(help="weights of the hourglass trained on the annotations")],
    hg_sa: Annotated[Path, typer.Option(help="weights after Semantic Alignment")],
    hg_ghcu: Annotated[Path | None, typer.Option(help="baseline hourglass + GHCU weights")] = None,
    hg_sa_ghcu: Annotated[Path | None, typer.Option(help="SA hourglass + GHCU weights")] = None,
    subset: Annotated[W300Subset, typer.Option()] = W300Subset.common,
    device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
) -> None:
    """The paper's Table 9 layout: HG / HG+SA / HG+GHCU / HG+SA+GHCU (+Norm: the last, predicting again
    on the levelled crop) on one 300-W subset."""
    from tracker.eval.protocols import evaluate_300w, make_predictor
    from tracker.eval.report import write_json
    from tracker.tables import format_table

    rows: dict[str, dict[str, Any]] = {}
    with user_errors((ImportError,)):
        table = (("HG", hg, False, False), ("HG+SA", hg_sa, False, False), ("HG+GHCU", hg_ghcu, True, False),
                 ("HG+SA+GHCU", hg_sa_ghcu, True, False), ("HG+SA+GHCU+Norm", hg_sa_ghcu, True, True))
        for name, path, use_ghcu, norm in table:
            if path is None:
                continue
            # float for every row: the table compares training stages, not arithmetic
            predictor = make_predictor(path, use_ghcu, device)
            rows[name], _, note = evaluate_300w(root, subset.value, predictor, norm)
        if note:
            typer.echo(f"note: {note}")
        typer.echo(format_table(rows, COLUMNS))
        if json:
            write_json(json, {"protocol": "300w-ablation", "subset": subset.value, "rows": rows})


@app.command("make-sequences")
def make_sequences_cmd(
    images: Annotated[Path, typer.Option(help="folder of annotated stills (image + .pts), searched recursively")],
    out: Annotated[Path, typer.Option(help="output root: <level>_<face>/vid.avi + annot/")],
    count: Annotated[int, typer.Option(help="faces per level")] = 10,
    frames: Annotated[int, typer.Option(help="frames per sequence")] = 50,
    levels: Annotated[str, typer.Option(help="comma-separated difficulty levels (1, 2, 3)")] = "1,2,3",
) -> None:
    """Turn annotated still faces into 300-VW-layout stress sequences at three difficulty levels."""
    from tracker.eval.sequences import LEVELS, make_sequences
    from tracker.datasets.faces import FaceSample, find_image
    from tracker.markup import NUM_POINTS
    from tracker.io.pts import read_pts

    with user_errors((ImportError,)):
        if not images.is_dir():
            raise FileNotFoundError(f"image folder not found: {images}")
        chosen = tuple(int(v) for v in levels.split(","))
        if unknown := [lv for lv in chosen if lv not in LEVELS]:
            raise InputError(f"unknown level(s) {unknown}; use 1, 2, 3")
        faces = []
        for pts_path in sorted(images.rglob("*.pts")):
            image = find_image(pts_path)
            if image is not None:
                pts = read_pts(pts_path)
                if len(pts) == NUM_POINTS:
                    faces.append(FaceSample(image, pts, "stills"))
            if len(faces) == count:
                break
        if not faces:
            raise FileNotFoundError(f"no annotated 68-point stills (image + .pts) under {images}")
        made = make_sequences(faces, out, chosen, frames)
        typer.echo(f"wrote {len(made)} sequences of {frames} frames to {out}")


@app.command("pose")
def pose_cmd(
    video: Annotated[Path | None, typer.Option(help="an unannotated video: roll against the tracked eye line, raw vs smoothed steadiness")] = None,
    sequences: Annotated[Path | None, typer.Option(help="300-VW-layout sequences (e.g. from make-sequences): roll against the annotated eye line")] = None,
    w300_root: Annotated[Path | None, typer.Option(help="300-W root: |yaw| of a subset's faces and of their mirror images")] = None,
    subset: Annotated[str, typer.Option(help="the 300-W subset for --w300-root")] = "lfpw_test",
    figure: Annotated[Path | None, typer.Option(help="write the convention picture (docs/pose.md) here")] = None,
    weights: WeightsOpt = None, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
) -> None:
    """Head pose on real faces: roll vs the eye line, the yaw sign under mirroring, frontal faces' yaw,
    and the smoothed pose's steadiness against the raw pose's."""
    from tracker.detection import create_detector
    from tracker.eval.pose import convention_figure, pose_on_video, roll_on_sequences, time_pose, yaw_on_stills
    from tracker.eval.protocols import make_predictor
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.timing import StageTimer
    from tracker.tracking.face_tracker import FaceTracker, TrackerConfig

    result: dict[str, Any] = {"protocol": "pose"}
    with user_errors((ImportError,)):
        if not any((video, sequences, w300_root, figure)):
            raise InputError("give at least one of --video, --sequences, --w300-root, --figure")
        predictor = make_predictor(weights, True, device)
        if figure is not None:
            convention_figure(figure)
            typer.echo(f"wrote {figure}")
        if sequences is not None:
            rows = roll_on_sequences(sequences, lambda: FaceTracker(predictor, create_detector(), TrackerConfig()))
            result["sequences"] = rows
            typer.echo(f"\nroll vs the annotated eye line, {sequences}")
            typer.echo(format_table(rows, ("frames", "median_roll_gap_deg")))
        if video is not None:
            tracker = FaceTracker(predictor, create_detector(), TrackerConfig(), timer=StageTimer())
            result["video"] = pose_on_video(video, tracker)
            tracker.close()
            gap = result["video"]["roll_vs_tracked_eye_line"]
            typer.echo(f"\n{video.name}: roll vs the tracked points' eye line, median {gap['median_gap_deg']:.2f} deg over {gap['faces']} faces")
            typer.echo("frame-to-frame change of the pose (largest of yaw, pitch, roll; degrees)")
            typer.echo(format_table(result["video"]["frame_to_frame"], ("pairs", "median_change_deg", "mean_change_deg")))
            typer.echo(f"pose stage in the tracker: {result['video']['pose_ms_per_face']:.3f} ms per face (fit and smoothing, "
                       "wall time beside the tracker's other threads)")
        result["pose_ms_per_face"] = time_pose()
        typer.echo(f"\npose fit and smoothing alone: {result['pose_ms_per_face']:.3f} ms per face (500 synthetic frames, one thread)")
        if w300_root is not None:
            result["stills"] = yaw_on_stills(w300_root, subset, predictor)
            typer.echo(f"\n300-W {subset}")
            typer.echo(format_table({subset: result["stills"]}, tuple(k for k in result["stills"] if k != "subset")))
        if json:
            write_json(json, result)


@app.command("steadiness")
def steadiness_cmd(
    video: Annotated[Path, typer.Argument(help="an unannotated video with faces")],
    weights: WeightsOpt = None, ghcu: GhcuOpt = True, smooth: SmoothOpt = True, device: DeviceOpt = DEFAULT_DEVICE,
    json: JsonOpt = None,
) -> None:
    """Frame-to-frame jitter (% of inter-ocular distance) with the face's own motion factored out."""
    import numpy as np
    from tracker.eval.protocols import make_predictor
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.detection import create_detector
    from tracker.tracking.face_tracker import FaceTracker, TrackerConfig
    from tracker.eval.steadiness import video_jitter
    from tracker.io.video import VideoReader

    with user_errors((ImportError,)):
        tracker = FaceTracker(make_predictor(weights, ghcu, device), create_detector(), replace(TrackerConfig(), smoothing=smooth))
        per_frame: list[dict[int, np.ndarray]] = []
        with VideoReader(video) as reader:
            for frame in reader:
                faces = tracker.step(frame.image) if frame.image is not None else []
                per_frame.append({f.face_id: f.points for f in faces})
        value, runs, total = video_jitter(per_frame)
        result = {"protocol": "steadiness", "video": str(video), "n_frames": len(per_frame), "n_tracks": runs,
                  "n_second_differences": total, "jitter_io": value, "smoothing": smooth, "ghcu": ghcu}
        typer.echo(format_table({video.name: result}, ("n_frames", "n_tracks", "jitter_io")))
        if json:
            write_json(json, result)


@app.command("calibrate-detector")
def calibrate_detector(
    root: Annotated[Path, typer.Option(help="300-W root; its training faces are used")],
    detector: Annotated[str, typer.Option(help="detector plugin to calibrate")] = DEFAULT_DETECTOR,
    stride: Annotated[int, typer.Option(help="use every Nth face")] = 2,
) -> None:
    """Fit how a detector's detections map to the canonical landmark crop (prints its calibration)."""
    from tracker.eval.detector_calibration import fit_calibration
    from tracker.datasets import w300
    from tracker.detection import create_detector

    with user_errors((ImportError,)):
        faces = w300.load_split(root, "train").faces[::stride]
        fit = fit_calibration(create_detector(detector), faces)
        (q1, q3), b = fit.box_iqr, fit.boxes
        typer.echo(f"matched {fit.matched} of {fit.faces} faces")
        typer.echo(f"BoxCalibration(dx={b.dx}, dy={b.dy}, scale={b.scale})")
        typer.echo(f"IQR dx {q1[0]:.2f}..{q3[0]:.2f}, dy {q1[1]:.2f}..{q3[1]:.2f}, scale {q1[2]:.2f}..{q3[2]:.2f}")
        if fit.keypoints is not None:
            typer.echo(f"KeypointCalibration(template={fit.keypoints.template}, boxes=...)")


@app.command("detection")
def detection(
    root: Annotated[Path, typer.Option(help="300-W root; its common test faces are pasted and cut into face-free images")],
    detectors: Annotated[str, typer.Option(help="detector plugins to compare, comma-separated; NAME+check: what the tracker keeps of an exhaustive search (the face check of --weights on each face)")] = "haar,mtcnn",
    weights: Annotated[Path | None, typer.Option(help="landmark weights whose face check a NAME+check row uses (default: the packaged ones)")] = None,
    faces: Annotated[int, typer.Option(min=1, help="test faces used (each at every width and roll)")] = 100,
    split: Annotated[str, typer.Option(help="300-W split whose faces are used: common (test) or train (to tune settings)")] = "common",
    video: Annotated[Path | None, typer.Option(help="a real clip: share of its frames where a face is found")] = None,
    every: Annotated[int, typer.Option(min=1, help="use every Nth frame of --video")] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    json: JsonOpt = None,
) -> None:
    """Detectors side by side: recall by face width and roll, false hits on face-free images, ms per frame."""
    import cv2

    from tracker.eval.detection import CHECKED, CheckedSearch, run_benchmark
    from tracker.eval.protocols import make_predictor
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.datasets import w300
    from tracker.detection import FaceDetector, create_detector
    from tracker.io.video import VideoReader

    cv2.setNumThreads(1)  # one thread, as a detector gets beside the network in the tracker
    names = [n.strip() for n in detectors.split(",") if n.strip()]
    with user_errors((ImportError,)):
        test_faces = w300.load_split(root, split).faces
        if not test_faces:
            raise FileNotFoundError(f"no 300-W {split} faces under {root}")
        chosen = test_faces[:: max(1, len(test_faces) // faces)][:faces]

        def clip_frames():
            with VideoReader(video) as reader:
                for frame in reader:
                    if frame.image is not None and frame.index % every == 0:
                        yield frame.image

        def factory(name: str) -> FaceDetector:
            if name.endswith(CHECKED):
                return CheckedSearch(create_detector(name.removesuffix(CHECKED)), make_predictor(weights, True, "cpu"))
            return create_detector(name)

        factories = {name: (lambda name=name: factory(name)) for name in names}
        rows = run_benchmark(factories, chosen, clip_frames if video is not None else None, seed)
        columns = tuple(next(iter(rows.values())).keys())
        typer.echo(format_table(rows, columns))
        if json:
            write_json(json, {"protocol": "detection", "faces": len(chosen), "video": str(video) if video else None, "rows": rows})


@app.command("crowd")
def crowd(
    root: Annotated[Path, typer.Option(help="300-W root; its common test faces make the crowd")],
    out: Annotated[Path, typer.Option(help="folder for crowd.mp4 and its truth (made once, then reused)")],
    faces: Annotated[int, typer.Option(min=1, help="faces in the crowd")] = 10,
    frames: Annotated[int, typer.Option(min=2, help="frames in the clip")] = 100,
    weights: WeightsOpt = None, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
    detector: Annotated[str, typer.Option(help="face detector plugin")] = DEFAULT_DETECTOR,
) -> None:
    """Many 40-150 px faces moving over a 1920x1080 scene: share of frames each face is tracked, id changes."""
    from tracker.eval.crowd import CrowdSpec, crowd_report
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.datasets import w300
    from tracker.jobs.pipeline import PipelineConfig, build_tracker
    from tracker.network.factory import PredictorConfig

    with user_errors((ImportError,)):
        test_faces = w300.load_split(root, "common").faces
        config = PipelineConfig(PredictorConfig(weights, device), detector=detector)
        result = crowd_report(test_faces, out, CrowdSpec(faces=faces, frames=frames), lambda: build_tracker(config))
        typer.echo(format_table({"crowd": result}, tuple(result)))
        if json:
            write_json(json, {"protocol": "crowd", "detector": detector, **result})


@app.command("compare")
def compare(
    w300_root: Annotated[Path | None, typer.Option(help="300-W root: still faces of the common subset")] = None,
    sequences: Annotated[Path | None, typer.Option(help="300-VW-layout sequences (e.g. from make-sequences)")] = None,
    video: Annotated[Path | None, typer.Option(help="an unannotated video: steadiness and frames/s")] = None,
    weights: WeightsOpt = None, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
    upsample: Annotated[int, typer.Option(help="dlib HOG detector upsampling (its example uses 1)")] = 1,
) -> None:
    """This tracker vs dlib's 68-point predictor on the same faces, sequences and video, in one run."""
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.eval.compare import run_comparison

    with user_errors((ImportError,)):
        result = run_comparison(w300_root, sequences, video, weights, device, upsample)
        for section, rows in result["tables"].items():
            typer.echo(f"\n{section}")
            typer.echo(format_table(rows, tuple(next(iter(rows.values())).keys())))
        if json:
            write_json(json, result)


@app.command("speed")
def speed(
    video: Annotated[Path, typer.Argument(help="a real clip, e.g. ../shared/data/videos/hamilton_clip.mp4")],
    weights: WeightsOpt = None, device: DeviceOpt = DEFAULT_DEVICE, json: JsonOpt = None,
    repeats: Annotated[int, typer.Option(min=1, help="runs per pipeline (median reported; runs interleaved)")] = 3,
    variants: Annotated[bool, typer.Option("--variants/--no-variants", help="also time each speed knob")] = True,
    dlib: Annotated[bool, typer.Option("--dlib/--no-dlib", help="time dlib's per-frame pipeline beside ours")] = True,
) -> None:
    """End-to-end frames/s of `tracker run` (decode to encode) and ms per stage, with dlib in the same run."""
    from tracker.eval.report import write_json
    from tracker.tables import format_table
    from tracker.eval.speed import STAGES, run_speed_benchmark

    with user_errors((ImportError,)):
        result = run_speed_benchmark(video, weights, device, repeats, variants, dlib)
        rows = result["rows"]
        summary = {name: {"fps": r["fps"], "speed_vs_dlib": r["speed_vs_dlib"], "frames": r["frames"],
                          "frames_with_faces": r["frames_with_faces"], "faces": r["faces"],
                          "detections": r["detections"], "runs_fps": " ".join(f"{v:.1f}" for v in r["runs_fps"])} for name, r in rows.items()}
        typer.echo(f"{video.name}: end to end (decode, detect/track, landmarks, draw, H.264 encode, CSV), "
                   f"median of {repeats} interleaved runs, device {device}")
        typer.echo(format_table(summary, ("fps", "speed_vs_dlib", "frames", "frames_with_faces", "faces", "detections", "runs_fps")))
        main_rows = {name: rows[name] for name in ("sa-tracker", "dlib") if name in rows}
        stages = [s for s in STAGES if any(s in r["stage_ms"] for r in main_rows.values())]
        typer.echo("\nms per frame in each stage (stages in other threads overlap, so they sum past the wall time)")
        typer.echo(format_table({n: {s: r["stage_ms"].get(s) for s in stages} for n, r in main_rows.items()}, tuple(stages)))
        if network := result["network_ms_per_face"]:
            typer.echo("\nper face: network, heatmap decoding, face check, GHCU (batch 1, one thread; median of interleaved rounds)")
            onnx = network["onnxruntime float"]
            typer.echo(format_table({p: {"ms_per_face": ms, "vs_onnxruntime": onnx / ms} for p, ms in network.items()}, ("ms_per_face", "vs_onnxruntime")))
        if processes := result["whole_process"]:
            typer.echo(f"\nwhole process, start-up included (fresh Python processes, interleaved; median of {repeats})")
            processes = {n: {**r, "runs_seconds": " ".join(f"{v:.2f}" for v in r["runs_seconds"])} for n, r in processes.items()}
            typer.echo(format_table(processes, ("seconds", "fps", "vs_plain_dlib", "runs_seconds")))
        if json:
            write_json(json, result)
