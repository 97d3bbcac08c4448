"""``brightkitchen detector rollback --detector URL`` against a detector serving HTTP on loopback: the
detector pool serves every tenant, so only the operator (a platform admin of BK_OPERATOR_TENANT) may
switch it. Another tenant's platform admin is refused by the running detector, and the CLI says why,
naming the setting; the operator's token switches it to the restored version."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bk_detector.model.artifact import SHIPPED
from bk_detector.registry import ModelRegistry
from bk_detector.service import DetectorService, create_service
from bk_detector.settings import DetectorSettings
from bk_detector.testing import ScriptedModel
from bkcore.auth import Principal, Role
from bkcore.bus.inproc import InProcessBus
from bkcore.objstore.local import LocalObjectStore
from bkcore.service import Runtime
from bkcore.testing.fuzz import serving
from bkcore.testing.tokens import new_token_issuer
from brightkitchen.main import app

pytestmark = pytest.mark.timeout(300)
SHIPPED_VERSION = json.loads((SHIPPED / "model.json").read_text())["version"]
OPERATOR = "minghu"
TOKENS = new_token_issuer()
SECRET = "s" * 32


def _copy(tmp_path: Path, version: str) -> Path:
    """The shipped artefact under another version (the registry needs versions to roll between)."""
    out = tmp_path / f"artefact-{version}"
    shutil.copytree(SHIPPED, out)
    meta = json.loads((out / "model.json").read_text())
    (out / "model.json").write_text(json.dumps({**meta, "version": version}))
    return out


def _admin_of(tenant: str) -> str:
    return TOKENS.issue(Principal(subject=f"{tenant}:admin", tenant_id=tenant, role=Role.PLATFORM_ADMIN))


def test_only_the_operator_switches_a_running_detector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BK_OBJECT_STORE", raising=False)
    data = tmp_path / "data"
    objects = data / "objects"  # where the CLI's registry (BK_DATA_DIR, local store) keeps models

    @contextlib.asynccontextmanager
    async def serve(base_url: str) -> AsyncIterator[DetectorService]:
        registry = ModelRegistry(LocalObjectStore(objects, SECRET, base_url), tmp_path / "publish")
        for version in (SHIPPED_VERSION, "9.0.0"):
            await registry.publish(_copy(tmp_path, version))
        settings = DetectorSettings(
            data_dir=tmp_path / "detector", grpc_port=0, device="cpu", max_batch_size=4, max_wait_ms=2,
            operator_tenant=OPERATOR,
        )  # fmt: skip
        runtime = Runtime(settings=settings, bus=InProcessBus(None), tokens=TOKENS,
                          store=LocalObjectStore(objects, SECRET, base_url))  # fmt: skip
        svc = create_service(runtime, settings, model=ScriptedModel())
        await runtime.bus.start()
        await svc.start()
        try:
            yield svc
        finally:
            await svc.stop()
            await runtime.bus.stop()

    runner = CliRunner()
    with serving(serve, name="detector") as detector:
        rollback = [
            "detector",
            "rollback",
            "kitchen-v1",
            "--data-dir",
            str(data),
            "--detector",
            detector.base_url,
        ]
        # The attack: a tenant's own platform admin switches the model every tenant is served by.
        hers = runner.invoke(app, rollback, env={"BK_TOKEN": _admin_of("riverton")})
        assert hers.exit_code == 1, hers.output
        assert f"kitchen-v1: withdrew 9.0.0; latest is {SHIPPED_VERSION}" in hers.output  # the registry: hers
        refused = next(line for line in hers.output.splitlines() if line.startswith(detector.base_url))
        assert "not switched (403:" in refused and "BK_OPERATOR_TENANT" in refused, refused
        assert detector.service.model.version == ScriptedModel().version  # the pod serves what it did

        # The operator: a newer version rolled back, and the running detector switches at once.
        detector.call(
            lambda: ModelRegistry(LocalObjectStore(objects, SECRET, "http://x"), tmp_path / "p2").publish(
                _copy(tmp_path, "9.0.1")
            )
        )
        ours = runner.invoke(app, rollback, env={"BK_TOKEN": _admin_of(OPERATOR)})
        assert ours.exit_code == 0, ours.output
        assert f"{detector.base_url}: serving {SHIPPED_VERSION}" in ours.output
        assert detector.service.model.version == SHIPPED_VERSION
