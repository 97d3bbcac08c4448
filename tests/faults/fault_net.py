"""A loopback TCP proxy a test can cut and mend: a server going away and coming back, as its clients
see it (connections reset, new ones refused), while the server itself keeps its state.

It runs on its own thread and event loop, so a test blocked in a subprocess call or a slow assertion
never stalls the traffic it relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpCut:
    """Relays 127.0.0.1:``port`` to 127.0.0.1:``target_port``; ``cut()`` and ``mend()`` the link."""

    def __init__(self, port: int | None = None, target_port: int = 0) -> None:
        self.port = port or free_port()
        self.target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"tcp-cut-{self.port}", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> TcpCut:
        self._thread.start()
        self.mend()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def is_cut(self) -> bool:
        return self._server is None

    def cut(self) -> None:
        """Close the listening socket and every relayed connection: clients get resets, then refusals."""
        self._call(self._cut())

    def mend(self) -> None:
        """Listen again on the same port: clients reconnect to the same server as before."""
        self._call(self._mend())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _mend(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._links):
            with contextlib.suppress(Exception):
                sock = writer.get_extra_info("socket")
                if sock is not None:  # RST, not FIN: the peer learns at once that the link is gone
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()
        self._links.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._links.update((writer, up_writer))
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._links.discard(w)
                w.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()
