"""ModelRuntime: what the detector service calls to turn frames into raw detections.

Fixed batch shapes on the GPU: with ``buckets`` set, every model call is padded (zero images) up
to the smallest bucket that holds it, and the padded rows' outputs are dropped. The dynamic
batcher hands over batches of any size from 1 to its maximum; without buckets each new size is a
new shape for every convolution, and cuDNN builds an execution plan per layer for it (PyTorch
keeps those plans in a *per-thread* cache), which stalled the service for seconds at a time.
``warm_up`` runs each bucket once in the calling thread: the batcher calls it on each of its
inference threads before serving.

CUDA graphs on top of buckets (``cuda_graphs``): ``warm_up`` also captures, per inference thread
and bucket, the network's forward plus box decoding and thresholding as one CUDA graph. A call then
copies its resized batch into the graph's input and replays it: one launch instead of ~150, so
the inference thread holds the GIL (which every kernel launch from Python needs) for microseconds
instead of milliseconds, and the event loop serving gRPC is not kept waiting. Each thread owns its
graphs and their static buffers, so two batches in flight never share one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bk_detector.detections import Detection, clamp_box
from bk_detector.model.artifact import SHIPPED, load_artifact
from bk_detector.model.decode import Detections, decode
from bk_detector.model.net import fuse_bn

log = logging.getLogger("bk_detector.model")

StageObserver = Callable[[str, float], None]


class _Stages:
    """Where one model call's time goes, by stage. On CUDA, events recorded on the call's stream
    (no synchronisation added; read once the call's single device-to-host copy has waited for
    everything); on the CPU, the wall clock. Only when someone observes (``stage_observer``)."""

    def __init__(self, observer: StageObserver | None, cuda: bool) -> None:
        self.observer, self.cuda = observer, cuda
        self._marks: list[tuple[str, Any]] = []
        self._host: dict[str, float] = {}
        if observer is not None:
            self.mark("")

    def mark(self, stage: str) -> None:
        """The stage named ``stage`` ends here (and the next one starts)."""
        if self.observer is None:
            return
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._marks.append((stage, event))
        else:
            self._marks.append((stage, time.perf_counter()))

    def add(self, stage: str, seconds: float) -> None:
        """Host time of a stage measured by the caller (``python``: building the results)."""
        self._host[stage] = self._host.get(stage, 0.0) + seconds

    def report(self) -> None:
        """Observe each stage's total (a call of several chunks adds its chunks up). Timing must
        never fail a batch: a timer error is logged and the call's timings are dropped."""
        if self.observer is None or len(self._marks) < 2:
            return
        try:
            self._report()
        except Exception:
            log.warning("stage timings of a model call dropped", exc_info=True)

    def _report(self) -> None:
        assert self.observer is not None
        if self.cuda:
            self._marks[-1][1].synchronize()  # recorded after the copy's sync: done, or nearly
        totals: dict[str, float] = dict(self._host)
        for (_, a), (stage, b) in zip(self._marks, self._marks[1:], strict=False):
            spent = a.elapsed_time(b) / 1000 if self.cuda else b - a
            totals[stage] = totals.get(stage, 0.0) + spent
        for stage, seconds in totals.items():
            self.observer(stage, seconds)


def parse_buckets(spec: str | list[int] | tuple[int, ...] | None) -> tuple[int, ...]:
    """``"8,16,32"`` (or a list) -> sorted unique positive sizes; ``""``/``"off"``/None -> ()."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        spec = spec.strip().lower()
        if spec in ("", "off", "none", "0"):
            return ()
        items = [int(x) for x in spec.replace(" ", ",").split(",") if x]
    else:
        items = [int(x) for x in spec]
    if any(b < 1 for b in items):
        raise ValueError(f"batch buckets must be positive: {spec!r}")
    return tuple(sorted(set(items)))


class _Graph:
    """One bucket's forward + decoding + thresholds, captured once on one thread's stream: copy a
    batch into ``x``, ``replay``, read ``det``/``keep`` (valid until this graph's next replay)."""

    def __init__(self, runtime: ModelRuntime, rows: int, stream: torch.cuda.Stream) -> None:
        self.x = torch.zeros(
            (rows, 3, runtime.input_height, runtime.input_width), dtype=runtime._dtype, device=runtime.device
        ).contiguous(memory_format=torch.channels_last)
        self.graph = torch.cuda.CUDAGraph()
        with _CAPTURE:  # one capture at a time in this process; other threads' work is not captured
            with torch.cuda.stream(stream):
                runtime._forward_eager(self.x)  # cuDNN plans and allocator warm for this shape
            stream.synchronize()
            with torch.cuda.graph(self.graph, stream=stream, capture_error_mode="thread_local"):
                self.det, self.keep = runtime._forward_eager(self.x)

    def run(self, x: torch.Tensor) -> tuple[Detections, torch.Tensor]:
        self.x.copy_(x)
        self.graph.replay()
        return self.det, self.keep


_CAPTURE = threading.Lock()


class ModelRuntime:
    def __init__(
        self,
        model: torch.nn.Module,
        meta: dict,
        device: str,
        half: bool,
        max_batch: int = 64,
        buckets: tuple[int, ...] | list[int] | str | None = None,
        cuda_graphs: bool = False,
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
        # called with (stage, seconds) after each call: decode, resize, model, copy (device time on
        # CUDA), python (host time building results); the service points it at its metrics
        self.stage_observer: StageObserver | None = None
        self.buckets: tuple[int, ...] = ()
        self.set_buckets(buckets)
        # CUDA graphs need fixed shapes (buckets) and a GPU; captured per thread by warm_up
        self.cuda_graphs = bool(cuda_graphs and self.buckets and device.startswith("cuda"))

    def set_buckets(self, buckets: tuple[int, ...] | list[int] | str | None) -> None:
        """Pad every model call to one of these batch sizes (() = no padding). A chunk never
        exceeds the largest bucket, so the model sees no other shape."""
        self.buckets = parse_buckets(buckets)
        if self.buckets:
            self.max_batch = self.buckets[-1]

    def bucket_for(self, n: int) -> int:
        """The padded size of a model call of ``n`` frames (``n`` itself without buckets)."""
        for b in self.buckets:
            if b >= n:
                return b
        return n

    @torch.inference_mode()
    def warm_up(self) -> list[int]:
        """Run the whole GPU path (resize, forward, box decoding, copy back) once per bucket, in
        the calling thread and on its stream: cuDNN's execution plans and the stream are
        per-thread, so each inference thread must warm up itself. With ``cuda_graphs`` each
        bucket's graph is captured here too, for this thread. Returns the sizes run."""
        done: list[int] = []
        stream = self._stream()
        ctx = torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()
        if stream is not None:  # on CUDA, frames arrive as JPEG bytes for nvJPEG: warm that too
            with torch.cuda.stream(stream):
                self._warm_decode()
        if self.cuda_graphs and stream is not None:
            local = self._local()
            local.graphs = {b: _Graph(self, b, stream) for b in self.buckets}
        with ctx:
            for b in self.buckets:
                img = torch.zeros(
                    (3, self.input_height, self.input_width), dtype=torch.uint8, device=self.device
                )
                self._run_chunk([img] * b)
                done.append(b)
            if stream is not None:
                stream.synchronize()
        return done

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        device: str = "auto",
        half: bool | None = None,
        buckets: tuple[int, ...] | list[int] | str | None = None,
        cudnn_benchmark: bool | None = None,
        cuda_graphs: bool = False,
        kind: str = "single_stage",
    ) -> ModelRuntime:
        """Load an artefact directory (None = the shipped kitchen-v1); fp16 by default on CUDA only.
        ``kind="two_stage"``: the two-stage detector (``model.two_stage``) with this artefact as its
        kitchen model.
        ``cudnn_benchmark`` sets ``torch.backends.cudnn.benchmark`` (process-wide) on CUDA: off by
        default, as measured; with buckets it autotunes each bucket once, during ``warm_up``.
        ``cuda_graphs``: capture each bucket as a CUDA graph at ``warm_up`` (CUDA with buckets only)."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        half = device.startswith("cuda") if half is None else half
        if device.startswith("cuda"):
            torch.backends.cudnn.benchmark = bool(cudnn_benchmark)
        if kind == "two_stage":
            from bk_detector.model.two_stage import load_two_stage

            model, meta = load_two_stage(Path(path) if path is not None else None)
        elif kind == "single_stage":
            model, meta = load_artifact(Path(path) if path is not None else SHIPPED)
        else:
            raise ValueError(f"model kind must be single_stage or two_stage, not {kind!r}")
        return cls(model, meta, device, half, buckets=buckets, cuda_graphs=cuda_graphs)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """N,... -> bucket,... with zero rows after the real ones (x itself when it fits exactly)."""
        b = self.bucket_for(len(x))
        if b == len(x):
            return x
        return torch.cat([x, x.new_zeros((b - len(x), *x.shape[1:]))])

    @torch.inference_mode()
    def predict_tensor(self, batch: torch.Tensor, k: int = 64) -> Detections:
        """Fast path: uint8 N,3,H,W already at input size and on the device; results stay on the device."""
        n = len(batch)
        x = (
            self._pad(batch.to(self.device, non_blocking=True))
            .to(self._dtype)
            .contiguous(memory_format=torch.channels_last)
        )
        det = self._detect(x, k)
        return det if len(x) == n else Detections(*(t[:n] for t in det))

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

    def _local(self) -> threading.local:
        """Per inference thread: its CUDA stream and, with ``cuda_graphs``, its captured graphs."""
        return self.__dict__.setdefault("_thread_state", threading.local())

    def _stream(self) -> torch.cuda.Stream | None:
        """One CUDA stream per worker thread, so two batches in flight overlap on the GPU."""
        if not self.device.startswith("cuda"):
            return None
        local = self._local()
        if getattr(local, "stream", None) is None:
            local.stream = torch.cuda.Stream(device=self.device)
        return local.stream

    def _detect(self, x: torch.Tensor, k: int = 64) -> Detections:
        """Model input -> detections on the device. A network that decodes itself (the two-stage
        detector returns ``Detections``) is taken as it is; KitchenNet's raw heads are decoded."""
        out = self.model(x)
        return out if isinstance(out, Detections) else decode(out, len(self.labels), k)

    def _forward_eager(self, x: torch.Tensor) -> tuple[Detections, torch.Tensor]:
        """Padded model input -> (detections, which pass their class's threshold), on the device."""
        det = self._detect(x)
        return det, det.scores >= self.thresholds[det.labels]

    def _forward(self, x: torch.Tensor, n: int) -> tuple[Detections, torch.Tensor]:
        """The first ``n`` rows' results for padded input ``x`` (the padding rows' are dropped).
        Replays this thread's graph for ``x``'s bucket when there is one (captured by ``warm_up``),
        else runs eagerly. A graph's outputs live until its next replay, which on this thread
        comes only after the caller has copied them back."""
        graph = getattr(self._local(), "graphs", {}).get(len(x)) if self.cuda_graphs else None
        det, keep = graph.run(x) if graph is not None else self._forward_eager(x)
        if len(x) != n:
            det, keep = Detections(*(t[:n] for t in det)), keep[:n]
        return det, keep

    def _warm_decode(self) -> None:
        """Decode one small JPEG on this device, as ``predict_jpeg`` would. Its first call imports
        torchvision, which pulls in torch._dynamo, sympy and triton: ~1,000 modules and ~150k
        objects. Done at warm-up, that happens before the service runner freezes its start-up heap
        (``bkcore.heap``) and before the first frame, instead of stalling the first batch and then
        making every later full collection walk those objects (50-100 ms pauses on the H100)."""
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (128, 128, 128)).save(buf, format="JPEG")
        [img] = self._decode_jpegs([buf.getvalue()])
        if isinstance(img, Exception):  # an optimisation only: never fail a start for it
            log.warning("JPEG decode warm-up failed (%s): the first batch will pay for it", img)

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

    def _fit(self, images: list[torch.Tensor], rows: int | None = None) -> torch.Tensor:
        """3xHxW uint8 device tensors of any sizes -> rows,3,h,w float at input size (same-size
        frames are resized together: one kernel per camera resolution, not per frame). Rows past
        the images (bucket padding) are zeros."""
        size = (self.input_height, self.input_width)
        rows = max(rows or 0, len(images))
        out = torch.empty((rows, 3, *size), device=self.device, dtype=torch.float32)
        if rows > len(images):
            out[len(images) :].zero_()
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
    def predict_jpeg(self, items: list[bytes | np.ndarray]) -> list[list[Detection] | Exception]:
        """Like ``predict``, but JPEG bytes are decoded on the model's device (nvJPEG on CUDA):
        the CPU only validated their headers. RGB arrays may be mixed in (frames the GPU decoder
        does not take). A frame that fails to decode gets its FrameError instead of detections."""
        stream = self._stream()
        ctx = torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()
        with ctx:
            stages = _Stages(self.stage_observer, stream is not None)
            results: list[list[Detection] | Exception] = [[] for _ in items]
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
            stages.mark("decode")
            order = sorted(images)
            for s in range(0, len(order), self.max_batch):
                chunk = order[s : s + self.max_batch]
                for i, frame in zip(chunk, self._run_chunk([images[i] for i in chunk], stages), strict=True):
                    results[i] = frame
            stages.report()
            return results

    def _run_chunk(self, images: list[torch.Tensor], stages: _Stages | None = None) -> list[list[Detection]]:
        """Device uint8 images (any sizes, at most max_batch) -> detections, padded to a bucket;
        the padded rows' outputs are dropped before anything is read back."""
        stages = stages or _Stages(None, False)
        n = len(images)
        x = self._fit(images, self.bucket_for(n)).to(self._dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        stages.mark("resize")
        det, keep = self._forward(x, n)
        stages.mark("model")
        return self._to_python(det, keep, stages)

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """HxWx3 uint8 RGB frames of any size -> per-frame detections above the per-class thresholds."""
        results: list[list[Detection]] = []
        stages = _Stages(self.stage_observer, self.device.startswith("cuda"))
        for i in range(0, len(images), self.max_batch):
            chunk = torch.stack([self._resize(im) for im in images[i : i + self.max_batch]])
            n = len(chunk)
            x = self._pad(chunk).to(self._dtype).contiguous(memory_format=torch.channels_last)
            stages.mark("resize")
            det, keep = self._forward(x, n)
            stages.mark("model")
            results.extend(self._to_python(det, keep, stages))
        stages.report()
        return results

    def _to_python(
        self, det: Detections, keep: torch.Tensor, stages: _Stages | None = None
    ) -> list[list[Detection]]:
        # Only the first slots that can pass any threshold matter: cut K to the most kept per frame,
        # then one device->host copy of everything (a copy per tensor is a sync per tensor).
        slots = keep.any(0).nonzero()
        kk = int(slots.max().item()) + 1 if slots.numel() else 1
        packed = torch.cat(
            [
                det.scores[:, :kk, None],
                det.labels[:, :kk, None].to(det.scores.dtype),
                det.boxes[:, :kk],
                det.attributes[:, :kk].to(det.scores.dtype),
                keep[:, :kk, None].to(det.scores.dtype),
            ],
            2,
        ).cpu()
        host_start = time.perf_counter()
        if stages is not None:
            stages.mark("copy")
        a = len(self.attribute_names)
        scores, labels = packed[..., 0].tolist(), packed[..., 1].long().tolist()
        boxes, attrs = packed[..., 2:6].tolist(), packed[..., 6 : 6 + a].tolist()
        keep_l = packed[..., 6 + a].bool().tolist()
        out: list[list[Detection]] = []
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
                x1, y1, x2, y2 = boxes[n][j]
                # The pipeline's own Detection, box clamped, built here on the inference thread:
                # the event loop, which sets the process's frames/s, takes it as it is.
                box = clamp_box((round(x1, 5), round(y1, 5), round(x2, 5), round(y2, 5)))
                frame.append(Detection(self.labels[lab], round(scores[n][j], 4), box, at))
            out.append(frame)
        if stages is not None and stages.observer is not None:
            stages.add("python", time.perf_counter() - host_start)
        return out
