"""Defaults shared by the runtime and its command line, in a module that imports nothing heavy, so
``tracker --help`` can show them without loading PyTorch, OpenCV or PyAV."""

REDETECT_EVERY = 30  # frames between detections while faces are tracked (new faces)
MAX_FACES = 16  # faces tracked at once; in a bigger crowd the first found are kept (logged once per run)
SEARCH_EVERY = 12  # at most this many frames between searches while no face is tracked
X264_PRESET = "ultrafast"  # overlay encoding speed
DEFAULT_DETECTOR = "mtcnn"  # face detector plugin (tracker.detection); "haar" is the light fallback
