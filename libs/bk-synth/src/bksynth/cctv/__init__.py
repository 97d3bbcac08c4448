"""Generator v2: kitchens as a ceiling-mounted CCTV camera films them (see frame.py)."""

from bksynth.cctv.frame import CctvFrame, render_cctv, render_cctv_frame

__all__ = ["CctvFrame", "render_cctv", "render_cctv_frame"]
