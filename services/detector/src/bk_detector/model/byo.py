"""A bring-your-own ONNX detector (自带模型) served like the shipped one, and the check that admits it.

An artefact is a directory with ``model.onnx`` and ``label_map.json`` (``labelmap``). ``check``
opens the file, runs one frame through it and compares what comes out with what the map says,
returning every problem by name; the registry refuses to publish a model with any. ``OnnxDetector``
is the ``modelapi.DetectionModel`` the service runs: letterbox, ONNX Runtime, ``yolo`` decoding.

Runtime: ONNX Runtime. torch cannot run an arbitrary ONNX graph, and a bring-your-own model is
nothing else; the CUDA provider is used when asked for and installed (``onnxruntime-gpu``), the CPU
otherwise. Batches: a file whose input has a dynamic batch axis takes a whole chunk in one run; a
fixed batch size B (ultralytics exports B = 1 by default) is run in chunks of B, the last padded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bk_detector.detections import Detection
from bk_detector.model import yolo
from bk_detector.model.labelmap import LabelMap, LabelMapError, parse

log = logging.getLogger("bk_detector.model.byo")

ONNX_FILE = "model.onnx"
LABEL_MAP_FILE = "label_map.json"
PAD = 114  # ultralytics' letterbox grey
KITCHENNET_OUTPUTS = ("scores", "labels", "boxes", "attributes")
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8}


def open_session(path: Path, device: str = "cpu") -> tuple[Any, str]:
    """An ONNX Runtime session for ``path`` and the device it runs on ("cuda" only when asked for
    and the CUDA provider is installed). Raises whatever ONNX Runtime raises for a bad file."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: a model's own warnings are not ours to log per start
    session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    used = "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
    return session, used


def read_label_map(path: Path) -> LabelMap:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelMapError([f"label_map: {path.name} is missing"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelMapError([f"label_map: {path.name} is not JSON ({exc})"]) from None
    return parse(data)


def _shape(dims: list[Any]) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else str(d or "?") for d in dims) + "]"


def _fixed(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def input_problems(session: Any, lm: LabelMap) -> list[str]:
    """The file's one image input must be [B, 3, H, W] of a known type, H and W the map's."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        return [
            f"model: {len(inputs)} inputs ({', '.join(i.name for i in inputs)}), expected one image input"
        ]
    x = inputs[0]
    problems = []
    if x.type not in _DTYPES:
        problems.append(f"model: input {x.name!r} is {x.type}, expected float, float16 or uint8")
    dims = list(x.shape)
    if len(dims) != 4 or _fixed(dims[1]) not in (3, None):
        return [*problems, f"model: input {x.name!r} is {_shape(dims)}, expected [batch, 3, height, width]"]
    h, w = _fixed(dims[2]), _fixed(dims[3])
    if (h is not None and h != lm.input_height) or (w is not None and w != lm.input_width):
        problems.append(
            f"model: input {x.name!r} is {_shape(dims)}, but label_map says "
            f"{lm.input_width}x{lm.input_height} (input_width x input_height)"
        )
    if lm.layout == "kitchennet" and x.type != "tensor(uint8)":
        problems.append(f"model: a kitchennet export takes uint8 images, this input is {x.type}")
    return problems


def output_problems(outputs: list[np.ndarray], names: list[str], lm: LabelMap, batch: int) -> list[str]:
    """Do one run's outputs have the layout the map names, with as many classes as it lists?"""
    nc = len(lm.classes)
    if lm.layout in ("yolov8", "yolov5"):
        out = outputs[0]
        want = 4 + nc if lm.layout == "yolov8" else 5 + nc
        axis = 1 if lm.layout == "yolov8" else 2
        expected = f"[{batch}, {want}, N]" if axis == 1 else f"[{batch}, N, {want}]"
        if out.ndim != 3 or out.shape[0] != batch or out.shape[axis] != want:
            return [
                f"model: output shape {list(out.shape)} does not match {nc} classes in label_map "
                f"({lm.layout} expects {expected}; an export with NMS built in is not supported)"
            ]
        if not np.isfinite(out).all():
            return ["model: the output of a plain grey frame holds NaN or infinity"]
        return []
    if sorted(names) != sorted(KITCHENNET_OUTPUTS):
        return [f"model: outputs {', '.join(names)}, a kitchennet export has {', '.join(KITCHENNET_OUTPUTS)}"]
    got = dict(zip(names, outputs, strict=True))
    k = got["scores"].shape[-1] if got["scores"].ndim == 2 else -1
    a = len(lm.attributes)
    shapes = {"scores": (batch, k), "labels": (batch, k), "boxes": (batch, k, 4), "attributes": (batch, k, a)}
    problems = [
        f"model: output {n} shape {list(got[n].shape)} does not match label_map "
        f"(expected {list(s)}: {a} attributes in label_map)"
        for n, s in shapes.items()
        if tuple(got[n].shape) != s
    ]
    if not problems and len(got["labels"]) and int(got["labels"].max(initial=0)) >= nc:
        problems.append(
            f"model: output labels reach class {int(got['labels'].max())}, but label_map lists {nc} classes"
        )
    return problems


def check(artefact_dir: Path) -> tuple[LabelMap | None, list[str]]:
    """Everything wrong with a bring-your-own artefact (empty = it can be published): the label map
    alone first, then the file: it opens, takes one frame and answers in the map's layout."""
    artefact_dir = Path(artefact_dir)
    try:
        lm = read_label_map(artefact_dir / LABEL_MAP_FILE)
    except LabelMapError as exc:
        return None, exc.problems
    onnx_path = artefact_dir / ONNX_FILE
    if not onnx_path.exists():
        return lm, [f"model: {ONNX_FILE} is missing"]
    from bk_detector.model.onnx_io import OnnxModelError, read_onnx  # the shared reader (onnx.checker)

    try:  # its checks first: they say best what is wrong with a file
        read_onnx(onnx_path)
    except OnnxModelError as exc:
        reason = str(exc).removeprefix(f"{onnx_path}: ")
        return lm, [f"model: cannot open {ONNX_FILE} ({_first_line(reason)})"]
    try:
        session, _ = open_session(onnx_path)
    except Exception as exc:  # a valid graph ONNX Runtime cannot run (an unknown operator, ...)
        return lm, [f"model: ONNX Runtime cannot load {ONNX_FILE} ({_first_line(exc)})"]
    if problems := input_problems(session, lm):
        return lm, problems
    runner = _Runner(session, lm)
    try:
        outputs = runner.run(np.full((runner.batch, 3, lm.input_height, lm.input_width), PAD, np.uint8))
    except Exception as exc:
        return lm, [f"model: running one frame failed ({_first_line(exc)})"]
    return lm, output_problems(outputs, runner.output_names, lm, runner.batch)


def _first_line(error: BaseException | str) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


class _Runner:
    """The session, its input's name and type, and the batch size it takes (None = any)."""

    def __init__(self, session: Any, lm: LabelMap) -> None:
        x = session.get_inputs()[0]
        self.session, self.input_name = session, x.name
        self.dtype = _DTYPES.get(x.type, np.float32)
        self.fixed_batch = _fixed(x.shape[0]) if x.shape else None
        self.batch = self.fixed_batch or 1
        self.output_names = [o.name for o in session.get_outputs()]
        self.scale = lm.layout != "kitchennet"  # YOLO exports take 0..1 floats; ours takes 0..255

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """uint8 [n, 3, H, W] in (n = the fixed batch size when the file has one)."""
        x = batch.astype(self.dtype)
        if self.scale and self.dtype != np.uint8:
            x /= 255.0
        return [np.asarray(o) for o in self.session.run(None, {self.input_name: x})]


class OnnxDetector:
    """``modelapi.DetectionModel`` over a published bring-your-own artefact."""

    def __init__(
        self, session: Any, lm: LabelMap, meta: dict[str, Any], device: str, max_batch: int = 64
    ) -> None:
        self.lm, self.meta = lm, meta
        self.labels: list[str] = lm.labels
        self.attribute_names: list[str] = lm.attribute_names
        self.name = str(meta.get("name", lm.name or "byo"))
        self.version = str(meta.get("version", lm.version or "0"))
        self.device = device
        self._runner = _Runner(session, lm)
        self.precision = "fp16" if self._runner.dtype == np.float16 else "fp32"
        self.input_width, self.input_height = lm.input_width, lm.input_height
        # a fixed batch size is the most per run; a dynamic axis takes whatever the batcher sends
        self.max_batch = self._runner.fixed_batch or max_batch

    @classmethod
    def load(cls, path: Path, device: str = "cpu") -> OnnxDetector:
        """A published artefact directory (``model.onnx``, ``label_map.json``, ``model.json``)."""
        path = Path(path)
        meta = json.loads((path / "model.json").read_text()) if (path / "model.json").exists() else {}
        lm = read_label_map(path / LABEL_MAP_FILE)
        # "auto" and "cuda" both ask for the CUDA provider; it is used where installed
        session, used = open_session(path / ONNX_FILE, "cpu" if device == "cpu" else "cuda")
        if device.startswith("cuda") and used != "cuda":
            log.warning(
                "bring-your-own model runs on the CPU: ONNX Runtime has no CUDA provider here "
                "(install onnxruntime-gpu for GPU pods)"
            )
        return cls(session, lm, meta, used)

    def warm_up(self) -> list[int]:
        """One grey batch: ONNX Runtime allocates its buffers on the first run, not the first frame."""
        self._runner.run(np.full((self._runner.batch, 3, self.input_height, self.input_width), PAD, np.uint8))
        return [self._runner.batch]

    def _fit(self, image: np.ndarray) -> tuple[np.ndarray, yolo.Geometry]:
        h, w = image.shape[:2]
        g = yolo.fit(w, h, self.lm)
        rw, rh = g.resized
        pil = Image.fromarray(np.ascontiguousarray(image[..., :3]))
        if (rw, rh) != (w, h):
            pil = pil.resize((rw, rh), Image.BILINEAR)
        canvas = np.full((self.input_height, self.input_width, 3), PAD, np.uint8)
        canvas[g.pad_y : g.pad_y + rh, g.pad_x : g.pad_x + rw] = np.asarray(pil)
        return canvas.transpose(2, 0, 1), g

    def predict(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """HxWx3 uint8 RGB frames of any size -> per-frame detections in the frame's own coordinates."""
        results: list[list[Detection]] = []
        step = self.max_batch
        for s in range(0, len(images), step):
            fitted = [self._fit(im) for im in images[s : s + step]]
            batch = np.stack([x for x, _ in fitted])
            n = len(batch)
            if self._runner.fixed_batch and n < self._runner.fixed_batch:  # pad; padded rows dropped
                batch = np.concatenate(
                    [batch, np.full((self._runner.fixed_batch - n, *batch.shape[1:]), PAD, np.uint8)]
                )
            outputs = self._runner.run(batch)
            for i, (_, g) in enumerate(fitted):
                results.append(
                    yolo.detections(
                        self._candidates(outputs, i), self.lm, g, suppress=self.lm.layout != "kitchennet"
                    )
                )
        return results

    def _candidates(self, outputs: list[np.ndarray], i: int) -> yolo.Candidates:
        if self.lm.layout == "yolov8":
            return yolo.yolov8(outputs[0][i], self.lm)
        if self.lm.layout == "yolov5":
            return yolo.yolov5(outputs[0][i], self.lm)
        got = dict(zip(self._runner.output_names, outputs, strict=True))
        return yolo.kitchennet(*(got[n][i] for n in KITCHENNET_OUTPUTS), self.lm)


def runtime_meta(lm: LabelMap, name: str, version: str) -> dict[str, Any]:
    """model.json for a published bring-your-own artefact: what the registry lists and the
    detector loads beside the label map."""
    return {
        "name": name,
        "version": version,
        "runtime": "onnx",
        "layout": lm.layout,
        "labels": lm.labels,
        "attributes": lm.attribute_names,
        "input_width": lm.input_width,
        "input_height": lm.input_height,
        "thresholds": lm.thresholds(),
        "rules": list(lm.rules),
        "label_map": lm.to_dict(),
        "metrics": {},
    }
