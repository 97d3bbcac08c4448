#!/usr/bin/python3
"""A real RTSP server (GStreamer's gst-rtsp-server from Debian) serving synthetic kitchen videos.

Run with the *system* Python (it needs python3-gi and gir1.2-gst-rtsp-server-1.0, not the venv):

    /usr/bin/python3 rtsp_server.py --port 8554 \
        --mount cam1=/tmp/kitchen.mkv --mount locked=/tmp/kitchen.mkv:user:pass --mount audio=audio:

Each mount plays a Matroska file (H.264 or VP8, no re-encoding) from its start for every client,
or a live test tone for ``audio:`` (an audio-only "camera"). ``path:user:pass`` requires those
credentials (basic auth) and is served on ``port + 1``.
Prints ``READY <port>`` once it listens; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PAY = {"h264": "h264parse ! rtph264pay name=pay0 pt=96 config-interval=1", "vp8": "rtpvp8pay name=pay0 pt=96"}


def launch_line(source: str, codec: str) -> str:
    if source == "audio":
        return "( audiotestsrc is-live=true ! audioconvert ! opusenc ! rtpopuspay name=pay0 pt=97 )"
    return f"( filesrc location={source} ! matroskademux ! {PAY[codec]} )"


def make_server(port: int, auth: GstRtspServer.RTSPAuth | None) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    if auth is not None:
        server.set_auth(auth)
    return server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--mount", action="append", default=[], help="name=path[:user:pass] or name=audio:")
    ap.add_argument("--codec", action="append", default=[], help="name=h264|vp8 (default h264)")
    args = ap.parse_args()
    codecs = dict(c.split("=", 1) for c in args.codec)

    Gst.init(None)
    # Open mounts on --port; mounts with credentials on --port + 1, a server whose RTSPAuth has no
    # anonymous token, so a client without (or with wrong) credentials gets 401 as from a real camera.
    open_server = make_server(args.port, None)
    auth = GstRtspServer.RTSPAuth()
    locked_server = make_server(args.port + 1, auth)
    for spec in args.mount:
        name, _, rest = spec.partition("=")
        source, _, cred = rest.partition(":")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(source, codecs.get(name, "h264")))
        factory.set_shared(False)  # every client starts the video from the beginning
        server = open_server
        if cred:
            user, _, password = cred.partition(":")
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", f"user-{name}")
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
            factory.add_role_from_structure(
                Gst.Structure.new_from_string(
                    f"user-{name}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )
            )
            server = locked_server
        server.get_mount_points().add_factory(f"/{name}", factory)
    for server, port in ((open_server, args.port), (locked_server, args.port + 1)):
        if server.attach(None) == 0:
            print(f"cannot listen on 127.0.0.1:{port}", file=sys.stderr, flush=True)
            sys.exit(2)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    parent = os.getppid()

    def orphaned() -> bool:
        # A test runner killed hard cannot stop us: leave with it instead of holding the ports.
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.timeout_add_seconds(1, orphaned)
    print(f"READY {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
