"""Readers for the official dataset layouts; shared by training and evaluation."""
from tracker.datasets.faces import FaceSample, load_image_rgb

__all__ = ["FaceSample", "load_image_rgb"]
