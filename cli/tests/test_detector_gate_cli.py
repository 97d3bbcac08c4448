"""``brightkitchen detector publish | rollback | versions`` around the promotion gate: the shipped
weights publish as the baseline, other weights without a verdict set are refused before any
scoring, and a rollback withdraws the latest version and tells each detector it could not reach.
(The gate's full table, with a refused and a promoted candidate, is tests/e2e/test_verdict_loop.py.)"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bk_detector.model.artifact import SHIPPED
from bk_detector.registry import ModelRegistry
from bkcore.objstore.local import LocalObjectStore
from brightkitchen.main import app

pytestmark = pytest.mark.timeout(300)
SHIPPED_VERSION = json.loads((SHIPPED / "model.json").read_text())["version"]


def _retrained(tmp_path: Path) -> Path:
    """A copy of the shipped artefact with (slightly) other weights: a candidate."""
    out = tmp_path / "candidate"
    shutil.copytree(SHIPPED, out)
    state = torch.load(out / "weights.pt", map_location="cpu", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] * 1.5 + 0.05  # fp16: a change fp16 can hold
    torch.save(state, out / "weights.pt")
    return out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once this closes


def test_publish_rollback_and_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BK_OBJECT_STORE", raising=False)
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]

    first = runner.invoke(app, ["detector", "publish", *data])
    assert first.exit_code == 0, first.output
    assert "same weights as the baseline: nothing to judge" in first.output

    candidate = _retrained(tmp_path)
    refused = runner.invoke(
        app, ["detector", "publish", "--model-dir", str(candidate), "--version", "9.0.0", *data]
    )
    assert refused.exit_code == 1, refused.output
    assert "refused: no verdict set (--verdicts)" in refused.output and "published" not in refused.output

    # Published directly (as an operator could with the registry's API), then rolled back.
    registry = ModelRegistry(
        LocalObjectStore(tmp_path / "data" / "objects", "s", "http://x"), tmp_path / "cache"
    )
    meta = json.loads((candidate / "model.json").read_text())
    meta["version"] = "9.0.0"
    (candidate / "model.json").write_text(json.dumps(meta))
    asyncio.run(registry.publish(candidate))
    listed = runner.invoke(app, ["detector", "versions", "kitchen-v1", *data])
    assert "9.0.0" in listed.output and listed.output.strip().endswith("latest")

    detector = f"http://127.0.0.1:{_closed_port()}"
    back = runner.invoke(
        app, ["detector", "rollback", "kitchen-v1", "--detector", detector, *data], env={"BK_TOKEN": "t"}
    )
    assert back.exit_code == 1, back.output  # the registry rolled back; the unreachable pod says so
    assert f"kitchen-v1: withdrew 9.0.0; latest is {SHIPPED_VERSION}" in back.output
    assert f"{detector}: not switched" in back.output
    listed = runner.invoke(app, ["detector", "versions", "kitchen-v1", *data])
    lines = {line.split()[0]: line for line in listed.output.splitlines() if line.strip()}
    assert lines[SHIPPED_VERSION].endswith("latest") and lines["9.0.0"].endswith("withdrawn (rolled back)")
    again = runner.invoke(app, ["detector", "rollback", "kitchen-v1", *data])
    assert again.exit_code == 1 and "not rolled back: model kitchen-v1" in again.output
    assert "no earlier version" in again.output
