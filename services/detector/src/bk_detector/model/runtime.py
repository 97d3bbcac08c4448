"""ModelRuntime: what the detector service calls to turn frames into raw detections."""

from __future__ import annotations

import contextlib
import threading
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

    def _stream(self) -> torch.cuda.Stream | None:
        """One CUDA stream per worker thread, so two batches in flight overlap on the GPU."""
        if not self.device.startswith("cuda"):
            return None
        local = self.__dict__.setdefault("_local", threading.local())
        if getattr(local, "stream", None) is None:
            local.stream = torch.cuda.Stream(device=self.device)
        return local.stream

    def _decode_jpegs(self, datas: list[bytes]) -> list[torch.Tensor | Exception]:
        """JPEG bytes -> 3xHxW uint8 tensors on the device (nvJPEG, batched, on CUDA); a frame that
        does not decode becomes a FrameError in its place and never fails the others."""
        from torchvision.io import ImageReadMode
        from torchvision.io import decode_jpeg as tv_decode

        from bk_detector.decode import FrameError

        raw = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
        try:
            return list(tv_decode(raw, mode=ImageReadMode.RGB, device=self.device))
        except RuntimeError:  # at least one bad frame: find it, one by one
            out: list[torch.Tensor | Exception] = []
            for r in raw:
                try:
                    out.append(tv_decode(r, mode=ImageReadMode.RGB, device=self.device))
                except RuntimeError as exc:
                    out.append(FrameError(f"not an image: not a decodable JPEG ({str(exc)[:120]})"))
            return out

    def _fit(self, images: list[torch.Tensor]) -> torch.Tensor:
        """3xHxW uint8 device tensors of any sizes -> N,3,h,w float at input size (same-size
        frames are resized together: one kernel per camera resolution, not per frame)."""
        size = (self.input_height, self.input_width)
        out = torch.empty((len(images), 3, *size), device=self.device, dtype=torch.float32)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault((int(im.shape[-2]), int(im.shape[-1])), []).append(i)
        for hw, idx in groups.items():
            batch = torch.stack([images[i] for i in idx]).float()
            if hw != size:
                batch = F.interpolate(batch, size, mode="bilinear", antialias=True, align_corners=False)
            out[torch.tensor(idx, device=self.device)] = batch
        return out

    @torch.inference_mode()
    def predict_jpeg(self, items: list[bytes | np.ndarray]) -> list[list[RawDetection] | Exception]:
        """Like ``predict``, but JPEG bytes are decoded on the model's device (nvJPEG on CUDA):
        the CPU only validated their headers. RGB arrays may be mixed in (frames the GPU decoder
        does not take). A frame that fails to decode gets its FrameError instead of detections."""
        stream = self._stream()
        ctx = torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()
        with ctx:
            results: list[list[RawDetection] | Exception] = [[] for _ in items]
            jpeg_idx = [i for i, x in enumerate(items) if isinstance(x, bytes)]
            images: dict[int, torch.Tensor] = {}
            if jpeg_idx:
                decoded = self._decode_jpegs([items[i] for i in jpeg_idx])  # type: ignore[misc]
                for i, img in zip(jpeg_idx, decoded, strict=True):
                    if isinstance(img, Exception):
                        results[i] = img
                    else:
                        images[i] = img
            for i, x in enumerate(items):
                if not isinstance(x, bytes):
                    arr = torch.from_numpy(np.ascontiguousarray(x[..., :3]))
                    images[i] = arr.to(self.device).permute(2, 0, 1)
            order = sorted(images)
            for s in range(0, len(order), self.max_batch):
                chunk = order[s:s + self.max_batch]
                x = self._fit([images[i] for i in chunk]).to(self._dtype)
                x = x.contiguous(memory_format=torch.channels_last)
                det = decode(self.model(x), len(self.labels))
                keep = det.scores >= self.thresholds[det.labels]
                for i, frame in zip(chunk, self._to_python(det, keep), strict=True):
                    results[i] = frame
            return results

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
        # Only the first slots that can pass any threshold matter: cut K to the most kept per frame,
        # then one device->host copy of everything (a copy per tensor is a sync per tensor).
        slots = keep.any(0).nonzero()
        kk = int(slots.max().item()) + 1 if slots.numel() else 1
        packed = torch.cat([det.scores[:, :kk, None], det.labels[:, :kk, None].to(det.scores.dtype),
                            det.boxes[:, :kk], det.attributes[:, :kk].to(det.scores.dtype),
                            keep[:, :kk, None].to(det.scores.dtype)], 2).cpu()
        a = len(self.attribute_names)
        scores, labels = packed[..., 0].tolist(), packed[..., 1].long().tolist()
        boxes, attrs = packed[..., 2:6].tolist(), packed[..., 6:6 + a].tolist()
        keep_l = packed[..., 6 + a].bool().tolist()
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
