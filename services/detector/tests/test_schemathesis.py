"""schemathesis over the detector's HTTP routes (the model admin API), against a real uvicorn.

The detector's frames go over gRPC; its HTTP side is the operators' model API (which model, the
registry's versions, activate, roll back, shadow). It runs here on the CPU with the real shipped
weights published to a real registry (a local object store) as versions 1.0 and 2.0, so about half
the generated versions are real ones and activation, shadowing and rollback really load and swap
models. Callers: a platform admin (the route's role) with a real Ed25519 token for the detector.
The checks, the CI and exploring modes and the server are ``bkcore.testing.fuzz``'s.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bk_detector.model.artifact import SHIPPED
from bk_detector.registry import ModelRegistry
from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing import fuzz
from bkcore.testing.tokens import new_token_issuer

TOKENS = new_token_issuer()
VERSIONS = ["1.0", "2.0"]
# The detector serves no endless stream over HTTP (its frame stream is gRPC).
SKIP_PATHS: dict[str, str] = {}


def _settings(data_dir: Path) -> DetectorSettings:
    return DetectorSettings(
        data_dir=data_dir,
        grpc_port=0,
        device="cpu",
        max_batch_size=4,
        max_wait_ms=2,
        operator_tenant="minghu",
    )


def _runtime(data_dir: Path, settings: DetectorSettings, base_url: str = "http://spec") -> Runtime:
    store = LocalObjectStore(data_dir / "objects", "s" * 32, base_url)
    return Runtime(settings=settings, bus=InProcessBus(None), store=store, tokens=TOKENS)


def _serve(data_dir: Path) -> fuzz.Serve:
    @contextlib.asynccontextmanager
    async def serve(base_url: str) -> AsyncIterator[DetectorService]:
        settings = _settings(data_dir)
        runtime = _runtime(data_dir, settings, base_url)
        registry = ModelRegistry(runtime.store, data_dir / "publish-cache")
        for version in VERSIONS:  # the shipped weights, published as two versions
            artefact = data_dir / f"artefact-{version}"
            shutil.copytree(SHIPPED, artefact)
            meta = json.loads((artefact / "model.json").read_text())
            (artefact / "model.json").write_text(json.dumps({**meta, "version": version}))
            await registry.publish(artefact)
        svc = create_service(runtime, settings)  # no model given: it loads the registry's latest
        await runtime.bus.start()
        await svc.start()
        try:
            await svc.start_shadow(VERSIONS[0])  # a shadow to report on before the fuzzer stops it
            yield svc
        finally:
            await svc.stop()
            await runtime.bus.stop()

    return serve


@pytest.fixture(scope="module")
def server() -> Iterator[fuzz.LoopbackServer]:
    with (
        tempfile.TemporaryDirectory(prefix="bk-schemathesis-") as tmp,
        fuzz.serving(_serve(Path(tmp)), name="detector") as srv,
    ):
        yield srv


@pytest.fixture(scope="module")
def admin() -> dict[str, str]:
    token = TOKENS.issue(Principal(subject="ops", tenant_id="minghu", role=Role.PLATFORM_ADMIN))
    return {"Authorization": f"Bearer {token}"}


def _spec() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bk-openapi-") as tmp:
        settings = _settings(Path(tmp))
        return create_service(_runtime(Path(tmp), settings), settings).app.openapi()


schema = fuzz.schema_of(_spec())


TALLY = fuzz.Tally()


@schema.parametrize()
@fuzz.fuzz_settings()
def test_no_server_errors_and_schema_conformance(case, admin, server) -> None:  # type: ignore[no-untyped-def]
    if fuzz.should_skip(case.path, SKIP_PATHS):
        return
    fuzz.steer(case, body={"version": VERSIONS})
    TALLY.call(case, server.base_url, admin)


def test_the_fuzzing_reached_the_routes_work() -> None:
    """Most routes answered 2xx at least once: the fuzzing got past authentication and ids to the
    work itself. What stays below is a body whose every field must be real and consistent (a new
    tenant, user or site, an upload with real photos, a transition from the right state), whose
    refusals are still fuzzed. ``pytest -rP`` shows each operation's statuses."""
    print(TALLY.summary())
    fuzz.assert_did_work(TALLY, schema, SKIP_PATHS, at_least=0.85)
