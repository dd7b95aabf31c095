"""sa-tracker: video face-landmark tracking with Semantic Alignment (CVPR 2019) hourglass + GHCU."""

__version__ = "0.1.0"
