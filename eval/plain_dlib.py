"""The plain dlib script a user would write, as a whole-process peer for ``tracker eval speed``.

PyAV decode, dlib's HOG detector without upsampling and its 68-point model on every frame, the points
drawn, libx264 at its default settings; imports and model loading are part of the timed process.
It imports nothing from this package (``python -m tracker.eval.plain_dlib`` starts only what it needs).
Usage: ``python -m tracker.eval.plain_dlib VIDEO OUT.mp4``.
"""
import sys


def main(video: str, out: str) -> None:
    import importlib.util
    from pathlib import Path

    import av
    import cv2
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    model = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model))
    with av.open(video) as source, av.open(out, "w") as sink:
        stream = source.streams.video[0]
        encoded = sink.add_stream("libx264", rate=stream.average_rate)
        encoded.width, encoded.height, encoded.pix_fmt = stream.codec_context.width, stream.codec_context.height, "yuv420p"
        for frame in source.decode(stream):
            image = frame.to_ndarray(format="rgb24")
            for box in detector(image, 0):
                for point in predictor(image, box).parts():
                    cv2.circle(image, (point.x, point.y), 2, (0, 255, 0), -1)
            for packet in encoded.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                sink.mux(packet)
        for packet in encoded.encode():
            sink.mux(packet)


if __name__ == "__main__":
    main(*sys.argv[1:3])
