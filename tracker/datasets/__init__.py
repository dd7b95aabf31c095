"""Readers for the official dataset layouts; shared by training and evaluation."""
from tracker.datasets.faces import FaceSample, load_face_image, load_image_rgb, mirror_face, protocol_crop

__all__ = ["FaceSample", "load_face_image", "load_image_rgb", "mirror_face", "protocol_crop"]
