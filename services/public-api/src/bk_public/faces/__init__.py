"""Real face detection for every picture the public sees (人脸检测): BlazeFace on ONNX Runtime."""

from bk_public.faces.detector import FaceDetector, FaceModelError, default_detector
from bk_public.faces.geometry import Face, FacePolicy

__all__ = ["Face", "FaceDetector", "FaceModelError", "FacePolicy", "default_detector"]
