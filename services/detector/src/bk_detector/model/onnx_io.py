"""Reading ONNX files for our torch runtime: open with a clear error, checksum, and the convolution
weights a torch re-implementation of a known graph loads (e.g. ``nanodet``).

Only the ``onnx`` package (protobuf + numpy) is needed: nothing here executes a graph. A model whose
architecture we know is re-built in torch and fed these weights, so it gets our batching, fp16 and
CUDA graphs; an arbitrary graph (bring-your-own) needs a graph runtime instead (``model.byo``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class OnnxModelError(ValueError):
    """An ONNX file that is missing, unreadable, or not the graph the caller expects."""


@dataclass(frozen=True, slots=True)
class ConvParams:
    """One ``Conv`` node: its weight (O, I/groups, kH, kW) and bias, by the initialisers' names."""

    node: str
    weight_name: str
    weight: np.ndarray
    bias: np.ndarray | None
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    group: int


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_onnx(path: Path, expected_sha256: str | None = None):  # -> onnx.ModelProto
    """Load and check an ONNX file; with ``expected_sha256`` the file must be exactly that one
    (a shipped artefact that changed on disk is refused, not half-trusted)."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"{path}: no such ONNX file")
    if expected_sha256 is not None:
        got = sha256(path)
        if got != expected_sha256:
            raise OnnxModelError(f"{path}: sha256 {got} is not the recorded {expected_sha256}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...: all mean "not a usable file"
        raise OnnxModelError(f"{path}: not a valid ONNX model ({str(exc)[:200]})") from None
    return model


def initializers(model) -> dict[str, np.ndarray]:  # model: onnx.ModelProto
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def conv_params(model) -> list[ConvParams]:  # model: onnx.ModelProto
    """Every ``Conv`` node with its weights, in graph order. Weights must be initialisers."""
    import onnx

    inits = initializers(model)
    out = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.input[1] not in inits:
            raise OnnxModelError(f"Conv {node.name}: weight {node.input[1]} is computed, not stored")
        bias = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        out.append(
            ConvParams(
                node.name,
                node.input[1],
                inits[node.input[1]],
                bias,
                tuple(attrs.get("strides", (1, 1))),
                tuple(attrs.get("pads", (0, 0, 0, 0))),
                int(attrs.get("group", 1)),
            )
        )
    return out
