"""Head pose from the 68 points: a bundled 3-D mean face fitted with ``cv2.solvePnP`` (docs/pose.md)."""
from tracker.pose.estimate import HeadPose, PoseConfig, PoseEstimator, euler_angles, rotation_from_angles
from tracker.pose.mean_face import MEAN_FACE_FILE, load_mean_face

__all__ = ["HeadPose", "MEAN_FACE_FILE", "PoseConfig", "PoseEstimator", "euler_angles", "load_mean_face", "rotation_from_angles"]
