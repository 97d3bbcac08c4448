"""What the service needs from a model: a structural view of ``bk_detector.model.runtime``.

The service codes against this Protocol so it can run with the real ``ModelRuntime`` or a
scripted test double, and so importing the service never drags in torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class RawDetectionLike(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Normalised xyxy."""

    @property
    def attributes(self) -> dict[str, float]:
        """Person only: chef_hat, mask, uniform, gloves -> P(worn)."""


class DetectionModel(Protocol):
    labels: list[str]
    version: str
    name: str
    device: str
    precision: str
    input_width: int
    input_height: int

    def predict(self, images: list[np.ndarray]) -> Sequence[Sequence[RawDetectionLike]]:
        """One list of detections per HxWx3 uint8 RGB image. Blocking; runs in a worker thread."""


def load_model(
    path: Path | None,
    device: str,
    half: bool | None,
    buckets: Sequence[int] | None = None,
    cudnn_benchmark: bool = False,
    cuda_graphs: bool = False,
    kind: str = "single_stage",
) -> DetectionModel:
    """The real model. Imported here, lazily, so torch loads only when a service starts.
    ``buckets``: batch sizes every model call is padded to (None/empty = no padding);
    ``cuda_graphs``: replay each bucket as a captured CUDA graph (CUDA with buckets only);
    ``kind``: single_stage (the artefact alone) or two_stage (``model.two_stage``, with the artefact
    as its kitchen model)."""
    from bk_detector import metrics
    from bk_detector.model.byo import LABEL_MAP_FILE, ONNX_FILE, OnnxDetector

    if path is not None and all((Path(path) / f).exists() for f in (ONNX_FILE, LABEL_MAP_FILE)):
        return OnnxDetector.load(Path(path), device=device)  # a bring-your-own model (``model.byo``)
    from bk_detector.model.runtime import ModelRuntime

    model = ModelRuntime.load(
        path,
        device=device,
        half=half,
        buckets=tuple(buckets or ()),
        cudnn_benchmark=cudnn_benchmark,
        cuda_graphs=cuda_graphs,
        kind=kind,
    )
    model.stage_observer = metrics.observe_stage  # bk_detector_stage_seconds{stage}
    return model
