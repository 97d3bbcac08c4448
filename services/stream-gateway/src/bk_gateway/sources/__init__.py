"""Where frames come from: simulated cameras and real streams (PyAV), behind one interface."""

from bk_gateway.sources.base import FrameSource, RawFrame, SourceError, SourceInfo, open_source

__all__ = ["FrameSource", "RawFrame", "SourceError", "SourceInfo", "open_source"]
