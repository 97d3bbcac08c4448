"""ModelRuntime: what the detector service calls to turn frames into raw detections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bk_detector.model.artifact import SHIPPED, load_artifact
from bk_detector.model.decode import Detections, decode
from bk_detector.model.net import fuse_bn


@dataclass(frozen=True)
class RawDetection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # normalised xyxy
    attributes: dict[str, float]  # person only: chef_hat, mask, uniform, gloves -> P(worn)


class ModelRuntime:
    def __init__(
        self, model: torch.nn.Module, meta: dict, device: str, half: bool, max_batch: int = 64
    ) -> None:
        self.labels: list[str] = list(meta["labels"])
        self.attribute_names: list[str] = list(meta["attributes"])
        self.version: str = str(meta.get("version", "0"))
        self.name: str = str(meta.get("name", "kitchen"))
        self.device = device
        self.precision = "fp16" if half else "fp32"
        self.input_width, self.input_height = int(meta["input_width"]), int(meta["input_height"])
        self.meta = meta
        self.max_batch = max_batch
        thr = meta.get("thresholds", {})
        self.thresholds = torch.tensor([float(thr.get(lb, 0.3)) for lb in self.labels], device=device)
        self._dtype = torch.float16 if half else torch.float32
        self.model = (
            fuse_bn(model).to(device=device, dtype=self._dtype, memory_format=torch.channels_last).eval()
        )
        self._person = self.labels.index("person") if "person" in self.labels else -1

    @classmethod
    def load(cls, path: Path | None = None, device: str = "auto", half: bool | None = None) -> ModelRuntime:
        """Load an artefact directory (None = the shipped kitchen-v1); fp16 by default on CUDA only."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        half = device.startswith("cuda") if half is None else half
        model, meta = load_artifact(Path(path) if path is not None else SHIPPED)
        return cls(model, meta, device, half)

    @torch.inference_mode()
    def predict_tensor(self, batch: torch.Tensor, k: int = 64) -> Detections:
        """Fast path: uint8 N,3,H,W already at input size and on the device; results stay on the device."""
        x = (
            batch.to(self.device, non_blocking=True)
            .to(self._dtype)
            .contiguous(memory_format=torch.channels_last)
        )
        return decode(self.model(x), len(self.labels), k)

    def _resize(self, img: np.ndarray) -> torch.Tensor:
        t = (
            torch.from_numpy(np.ascontiguousarray(img[..., :3]))
            .to(self.device)
            .permute(2, 0, 1)[None]
            .float()
        )
        if t.shape[-2:] != (self.input_height, self.input_width):
            # antialiased like PIL's resize, which prepared the training images
            t = F.interpolate(
                t, (self.input_height, self.input_width), mode="bilinear", antialias=True, align_corners=False
            )
        return t[0]

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray]) -> list[list[RawDetection]]:
        """HxWx3 uint8 RGB frames of any size -> per-frame detections above the per-class thresholds."""
        results: list[list[RawDetection]] = []
        for i in range(0, len(images), self.max_batch):
            chunk = torch.stack([self._resize(im) for im in images[i : i + self.max_batch]])
            x = chunk.to(self._dtype).contiguous(memory_format=torch.channels_last)
            det = decode(self.model(x), len(self.labels))
            keep = det.scores >= self.thresholds[det.labels]
            results.extend(self._to_python(det, keep))
        return results

    def _to_python(self, det: Detections, keep: torch.Tensor) -> list[list[RawDetection]]:
        scores, labels = det.scores.cpu().tolist(), det.labels.cpu().tolist()
        boxes, attrs, keep_l = det.boxes.cpu().tolist(), det.attributes.cpu().tolist(), keep.cpu().tolist()
        out: list[list[RawDetection]] = []
        for n in range(len(scores)):
            frame = []
            for j in range(len(scores[n])):
                if not keep_l[n][j]:
                    continue  # scores are sorted, but thresholds differ per class: no early break
                lab = labels[n][j]
                at = (
                    {a: round(p, 4) for a, p in zip(self.attribute_names, attrs[n][j], strict=True)}
                    if lab == self._person
                    else {}
                )
                frame.append(
                    RawDetection(
                        self.labels[lab], round(scores[n][j], 4), tuple(round(v, 5) for v in boxes[n][j]), at
                    )
                )  # type: ignore[arg-type]
            out.append(frame)
        return out
