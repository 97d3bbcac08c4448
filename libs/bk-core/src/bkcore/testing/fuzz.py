"""schemathesis against a real service: one loopback server, one set of checks, one way to run.

Each service's ``tests/test_schemathesis.py`` builds its service (real stores, real tokens), serves
it with :class:`LoopbackServer` and sends every operation of its OpenAPI spec generated requests,
valid and invalid, with :data:`CHECKS`. Two modes, chosen by the environment:

- **CI (default)**: derandomised; the same :data:`CI_EXAMPLES` examples per operation every run, so
  a red run is a regression, never bad luck.
- **Exploring** (``BK_FUZZ_RANDOM=1``): fresh random examples each run, :data:`EXPLORE_EXAMPLES` per
  operation (or ``BK_FUZZ_EXAMPLES``); what it finds becomes a regression test next to the fix.

Endless streams (SSE, websockets, long polls) cannot be fuzzed request by response: each module
names the ones it leaves out, with the reason, and :func:`should_skip` holds them to that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)
from starlette.types import ASGIApp

T = TypeVar("T")

#: No 5xx; bodies match their declared schema and content type; an invalid request gets a 4xx.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, negative_data_rejection]
CI_EXAMPLES = 25
EXPLORE_EXAMPLES = 200
RANDOM_ENV = "BK_FUZZ_RANDOM"
EXAMPLES_ENV = "BK_FUZZ_EXAMPLES"
REQUEST_TIMEOUT_S = 15.0

#: ``serve(base_url)``: starts a service, yields it (anything with an ASGI ``app``), stops it on exit.
Serve = Callable[[str], AbstractAsyncContextManager[Any]]


def exploring() -> bool:
    """Whether this run explores fresh random examples (``BK_FUZZ_RANDOM=1``) instead of CI's."""
    return os.environ.get(RANDOM_ENV) == "1"


def max_examples(ci: int = CI_EXAMPLES) -> int:
    raw = os.environ.get(EXAMPLES_ENV)
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{EXAMPLES_ENV} must be a positive whole number, got {raw!r}")
        return int(raw)
    return EXPLORE_EXAMPLES if exploring() else ci


def fuzz_settings(*, ci_examples: int = CI_EXAMPLES) -> settings:
    """Hypothesis settings of every schemathesis test: derandomised unless exploring.

    ``ci_examples``: fewer per operation for a service with many operations, so its module stays
    well under a minute and a half on a loaded CI box."""
    return settings(
        max_examples=max_examples(ci_examples),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not exploring(),
        print_blob=exploring(),  # a random find prints the blob that replays it
    )


def schema_of(spec: dict[str, Any]) -> Any:
    """The schemathesis schema of an app's OpenAPI document (``app.openapi()``).

    Built at import from an app that is not started: schemathesis' lazy fixture loader breaks on
    pytest 9, so the spec cannot come from a fixture.
    """
    return schemathesis.openapi.from_dict(spec)


def should_skip(path: str, skipped: Mapping[str, str]) -> bool:
    """Whether ``path`` is one of a module's endless streams (path → why it cannot be fuzzed)."""
    for name, why in skipped.items():
        if not why.strip():
            raise ValueError(f"skipped path {name!r} needs its reason")
    return path in skipped


def steer(
    case: Any,
    *,
    path: Mapping[str, Sequence[Any]] | None = None,
    query: Mapping[str, Sequence[Any]] | None = None,
    body: Mapping[str, Sequence[Any]] | None = None,
) -> None:
    """Swap about half the generated ids of ``case`` for real ones, so success paths run too.

    ``path``/``query``/``body`` map a parameter (or a top-level JSON field) to the real values to
    pick from. The choice depends only on the generated value, so a derandomised run stays the same
    run; the other half keep their generated value and exercise the 404s and 422s. A part generated
    to be invalid is left alone: made valid, it would no longer test the refusal it was made for.
    """
    for location, values, real in (
        (ParameterLocation.PATH, case.path_parameters, path),
        (ParameterLocation.QUERY, case.query, query),
        (ParameterLocation.BODY, case.body, body),
    ):
        if real and not (case.meta and case.meta.is_negative_at(location)):
            _steer(values, real)


def _steer(values: Any, real: Mapping[str, Sequence[Any]] | None) -> None:
    # One decision per location (all its named fields or none): a body whose every field must be
    # real to pass (a camera: its zone, its source, its site) passes in half the cases, not 1/2^n.
    if not real or not isinstance(values, dict) or sum(len(str(v)) for v in values.values()) % 2:
        return
    for name, choices in real.items():
        if name in values and choices:
            values[name] = choices[len(str(values[name])) % len(choices)]


def _drops_credentials(case: Any) -> bool:
    """Whether a negative case made its headers invalid without an ``Authorization`` header (the
    spec's bearer scheme requires one: schemathesis tests its absence)."""
    if not (case.meta and case.meta.is_negative_at(ParameterLocation.HEADER)):
        return False
    return not any(name.lower() == "authorization" for name in case.headers or {})


class Tally:
    """Sends a case with :data:`CHECKS` and counts the status codes each operation got.

    A module's last test asks :meth:`missing_successes`: an operation that never answered 2xx was
    fuzzed only at its door (401, 404, 422), so the test of its real work did not happen.
    """

    #: Ids kept per collection: enough to steer to, few enough that the same ones come back.
    KEEP_IDS = 8

    def __init__(self) -> None:
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.created: dict[str, list[str]] = defaultdict(list)

    def call(self, case: Any, base_url: str, headers: Mapping[str, str] | None = None) -> Any:
        """Send ``case`` with the caller's ``headers`` (its token), validate, count the status."""
        sent = dict(headers or {})
        if _drops_credentials(case):  # the invalid part is the missing token: don't add it back
            sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
        response = case.call_and_validate(
            base_url=base_url, headers=sent, checks=CHECKS, timeout=REQUEST_TIMEOUT_S
        )
        self.statuses[case.operation.label][response.status_code] += 1
        if case.method.upper() == "POST" and 200 <= response.status_code < 300:
            self._keep_id(case.path, response)
        return response

    def _keep_id(self, collection: str, response: Any) -> None:
        try:
            body = response.json()
        except ValueError:
            return
        ids = self.created[collection]
        if isinstance(body, dict) and isinstance(body.get("id"), str) and len(ids) < self.KEEP_IDS:
            ids.append(body["id"])

    def created_at(self, collection: str) -> list[str]:
        """Ids of what the fuzzing created with a 2xx ``POST collection`` (its ``id`` field), so the
        later operations on ``collection/{id}`` reach real records."""
        return list(self.created.get(collection, ()))

    def summary(self) -> str:
        """One line per operation: the status codes it got and how often (``pytest -rP`` shows it)."""
        return "\n".join(
            f"{label}: " + " ".join(f"{code}×{n}" for code, n in sorted(counts.items()))
            for label, counts in sorted(self.statuses.items())
        )

    def missing_successes(self, schema: Any, skipped: Mapping[str, str]) -> list[str]:
        """Operations of ``schema`` (but the skipped paths) with no 2xx; raises if nothing ran."""
        if not self.statuses:
            raise AssertionError("no request was sent: run the whole module, not this test alone")
        missing = []
        for result in schema.get_all_operations():
            op = result.ok()
            if op.path in skipped:
                continue
            if not any(200 <= code < 300 for code in self.statuses.get(op.label, {})):
                missing.append(f"{op.label}: {dict(self.statuses.get(op.label, {}))}")
        return missing


def assert_did_work(tally: Tally, schema: Any, skipped: Mapping[str, str], *, at_least: float) -> None:
    """At least ``at_least`` of the operations answered 2xx at least once.

    A share, not a list: which generated examples reach which route shifts whenever the spec does
    (another route, another field), while a fuzzing that stops getting past authentication or ids
    (an expired key, a seed gone) drops the share at once."""
    missing = tally.missing_successes(schema, skipped)
    total = sum(1 for r in schema.get_all_operations() if r.ok().path not in skipped)
    share = (total - len(missing)) / total if total else 0.0
    assert share >= at_least, (
        f"only {share:.0%} of {total} operations answered 2xx (at least {at_least:.0%} expected); "
        "never 2xx:\n" + "\n".join(missing)
    )


class LoopbackServer:
    """A service in uvicorn on 127.0.0.1 (a free port), on a thread with its own event loop.

    ``serve(base_url)`` is an async context manager that starts the service (stores, bus, seed
    data), yields it (anything with an ASGI ``app``; kept as :attr:`service`) and stops it on exit.
    It runs on the server's loop, as does :meth:`call`, so a test can seed through the service's
    own functions while it serves.
    """

    def __init__(self, serve: Serve, *, name: str) -> None:
        self._serve_cm = serve
        self.name = name
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.service: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"{name}-fuzz", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start(): a thread's error is otherwise lost
            self._error = exc

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with self._serve_cm(self.base_url) as service:
            self.service = service
            app: ASGIApp = service.app
            # lifespan off: serve() has started the service already, and stops it after uvicorn.
            config = uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
            self._server = uvicorn.Server(config)
            await self._server.serve()

    def start(self, timeout_s: float = 60.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not (self._server and self._server.started):
            if self._error or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start: {self._error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within {timeout_s:.0f} s")
            time.sleep(0.05)

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = 60.0) -> T:
        """Run ``fn()`` on the server's loop (where the service's engine and bus live)."""
        if self._loop is None:
            raise RuntimeError(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._server:
            self._server.should_exit = True
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.name} did not stop within {timeout_s:.0f} s")
        if self._error:
            raise RuntimeError(f"{self.name} failed while serving: {self._error!r}") from self._error


@contextlib.contextmanager
def serving(serve: Serve, *, name: str) -> Iterator[LoopbackServer]:
    """Start a :class:`LoopbackServer` for the length of a ``with`` block (a module fixture)."""
    server = LoopbackServer(serve, name=name)
    server.start()
    try:
        yield server
    finally:
        server.stop()
