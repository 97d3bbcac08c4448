"""The kitchen detector model: network, decoding, artefact format and the runtime the service calls."""

from bk_detector.model.runtime import ModelRuntime

__all__ = ["ModelRuntime"]
