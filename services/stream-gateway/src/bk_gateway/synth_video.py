"""Synthetic kitchen video files: a bksynth scenario encoded like a real camera (H.264, fixed GOP),
for the RTSP test server, the demo and the decode benchmark."""

from __future__ import annotations

from pathlib import Path

import av

from bk_gateway.sources.sim import load_scenario


def write_kitchen_video(
    path: Path,
    *,
    scenario: str = "cooking",
    seconds: float = 30.0,
    fps: int = 10,
    width: int = 320,
    height: int = 180,
    gop_s: float = 2.0,
    codec: str = "libx264",
    preset: str = "veryfast",
) -> Path:
    """Encode ``seconds`` of the scenario into ``path`` (.mkv; H.264 by default, or libvpx for VP8)."""
    render = load_scenario(scenario)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        gop = max(1, int(fps * gop_s))
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            # Fixed GOP like an IP camera: a keyframe every gop_s, no scene-cut extras, no B-frames.
            stream.codec_context.options = {
                "preset": preset,
                "tune": "zerolatency",
                "bf": "0",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            }
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(render(i / fps, width, height), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
