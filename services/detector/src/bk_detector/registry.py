"""Model registry in the object store: versioned artefacts the detector loads and switches between.

Layout (keys are global, not per tenant: one model serves every tenant)::

    models/<name>/index.json                 {"name", "versions": [...], "latest"}
    models/<name>/<version>/weights.pt        fp16 state dict (the shipped KitchenNet and its retrains)
    models/<name>/<version>/model.onnx        or: a bring-your-own ONNX model (``model.byo``) ...
    models/<name>/<version>/label_map.json    ... with the label map it was published with
    models/<name>/<version>/model.json        everything the runtime needs (labels, input size, ...)
    models/<name>/<version>/labels.json       the label map (index -> label) and attribute names
    models/<name>/<version>/thresholds.json   per-class score thresholds
    models/<name>/<version>/metrics.json      held-out metrics and speed figures
    models/<name>/<version>/MODEL_CARD.md     the model card (when the artefact has one)
    models/<name>/<version>/manifest.json     written last: every file's sha256 and size

A version exists once its manifest does: a publish that dies half way leaves no loadable version.
Published versions are immutable (publishing one again with different bytes is refused). Loading
fetches the files into a local cache (``<data_dir>/models/<name>/<version>``), checks every
sha256 against the manifest, and only then hands the directory to ``ModelRuntime`` (or, for an
ONNX artefact, ``OnnxDetector``). A bring-your-own artefact is checked before anything is uploaded
(``model.byo.check``: it opens, runs one frame, answers in its label map's layout, and the map covers
the rules): a bad one is refused with every reason by name (``ModelRefused``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bkcore.objstore.base import ObjectNotFound, ObjectStore, validate_key

PREFIX = "models"
ARTEFACT_FILES = ("weights.pt", "model.json", "MODEL_CARD.md")
ONNX_FILE, LABEL_MAP_FILE = "model.onnx", "label_map.json"  # a bring-your-own artefact (model.byo)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CONTENT_TYPES = {
    ".json": "application/json",
    ".md": "text/markdown",
    ".pt": "application/octet-stream",
    ".onnx": "application/octet-stream",
}


class RegistryError(RuntimeError):
    """The registry cannot do this (unknown version, corrupt artefact, conflicting publish)."""


class VersionNotFound(RegistryError, LookupError):
    """No such model version in the store."""


class ModelRefused(RegistryError, ValueError):
    """A bring-your-own model that cannot be served; ``problems`` names every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("model refused: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    published_at: str
    manifest: dict[str, Any]


def _check(part: str, what: str) -> str:
    if not _NAME_RE.match(part) or ".." in part:
        raise RegistryError(f"invalid model {what} {part!r}")
    return part


def version_prefix(name: str, version: str) -> str:
    return f"{PREFIX}/{_check(name, 'name')}/{_check(version, 'version')}"


def _index_key(name: str) -> str:
    return validate_key(f"{PREFIX}/{_check(name, 'name')}/index.json")


def _history(index: dict[str, Any]) -> list[str]:
    """The versions that were "latest", oldest first (indexes from before rollback: publish order)."""
    return list(index.get("history") or index["versions"])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelRegistry:
    def __init__(self, store: ObjectStore, cache_dir: Path) -> None:
        self.store, self.cache_dir = store, Path(cache_dir)

    # -- publishing -------------------------------------------------------------------------------

    async def publish(
        self,
        artefact_dir: Path,
        *,
        name: str | None = None,
        version: str | None = None,
        published_at: datetime | None = None,
    ) -> ModelVersion:
        """Upload an artefact directory (weights.pt + model.json [+ MODEL_CARD.md], or a bring-your-own
        model.onnx + label_map.json) as one version.

        ``name``/``version`` default to model.json's (the label map's for an ONNX artefact).
        Idempotent: publishing the same bytes again returns the existing version; different bytes
        under an existing version are refused. A bad ONNX artefact raises ModelRefused.
        """
        artefact_dir = Path(artefact_dir)
        weights = ONNX_FILE if (artefact_dir / ONNX_FILE).exists() else "weights.pt"
        if weights == ONNX_FILE:
            meta = await asyncio.to_thread(_byo_meta, artefact_dir)
        else:
            meta = json.loads((artefact_dir / "model.json").read_text())
        name = _check(name or str(meta.get("name", "")), "name")
        version = _check(version or str(meta.get("version", "")), "version")
        meta = {**meta, "name": name, "version": version}  # the registry's coordinates win
        files: dict[str, bytes] = {
            weights: (artefact_dir / weights).read_bytes(),
            "model.json": json.dumps(meta, indent=2).encode(),
            "labels.json": json.dumps(
                {"labels": meta["labels"], "attributes": meta.get("attributes", [])}, indent=2
            ).encode(),
            "thresholds.json": json.dumps(meta.get("thresholds", {}), indent=2).encode(),
            "metrics.json": json.dumps(meta.get("metrics", {}), indent=2).encode(),
        }
        if (card := artefact_dir / "MODEL_CARD.md").exists():
            files["MODEL_CARD.md"] = card.read_bytes()
        if weights == ONNX_FILE:
            files[LABEL_MAP_FILE] = (artefact_dir / LABEL_MAP_FILE).read_bytes()
        prefix = version_prefix(name, version)
        existing = await self._manifest_or_none(name, version)
        if existing is not None:
            defining = [f for f in (weights, LABEL_MAP_FILE) if f in files]
            if any(existing["files"].get(f, {}).get("sha256") != _sha256(files[f]) for f in defining):
                raise RegistryError(
                    f"{name} {version} is already published with other weights; "
                    "versions are immutable, publish a new version"
                )
            return ModelVersion(name, version, existing["published_at"], existing)
        for fname, data in files.items():
            await self.store.put(
                validate_key(f"{prefix}/{fname}"),
                data,
                _CONTENT_TYPES.get(Path(fname).suffix, "application/octet-stream"),
            )
        manifest = {
            "name": name,
            "version": version,
            "published_at": (published_at or datetime.now(UTC)).isoformat(),
            "input_width": meta.get("input_width"),
            "input_height": meta.get("input_height"),
            "labels": meta["labels"],
            "runtime": meta.get("runtime", "torch"),
            "map50": meta.get("metrics", {}).get("test_map50"),
            "files": {f: {"sha256": _sha256(d), "bytes": len(d)} for f, d in files.items()},
        }
        await self.store.put(
            validate_key(f"{prefix}/manifest.json"),
            json.dumps(manifest, indent=2).encode(),
            "application/json",
        )
        await self._add_to_index(name, version)
        return ModelVersion(name, version, manifest["published_at"], manifest)

    async def _add_to_index(self, name: str, version: str) -> None:
        # Read-modify-write: publishing is a rare admin action, not a concurrent hot path.
        index = await self._index(name)
        if version not in index["versions"]:
            index["versions"].append(version)
        index["latest"] = version
        index["history"] = [*_history(index), version]  # what "latest" has been, in order (rollback)
        await self.store.put(_index_key(name), json.dumps(index, indent=2).encode(), "application/json")

    async def withdrawn(self, name: str) -> frozenset[str]:
        """Versions a rollback took away: never served again by a rollback."""
        return frozenset((await self._index(name)).get("withdrawn", []))

    async def rollback(self, name: str) -> tuple[str, str]:
        """Make the version that was latest before the current one latest again; the current one is
        withdrawn (a later rollback never returns to it). New pods load the restored version; running
        ones switch with ``DetectorService.rollback`` / ``activate``. Returns (withdrawn, restored)."""
        index = await self._index(name)
        current = index["latest"]
        if current is None:
            raise VersionNotFound(f"model {name} has no published version to roll back")
        withdrawn = {*index.get("withdrawn", []), current}
        earlier = [v for v in _history(index) if v in index["versions"] and v not in withdrawn]
        if not earlier:
            raise RegistryError(f"model {name} {current} has no earlier version to return to")
        index.update(latest=earlier[-1], withdrawn=sorted(withdrawn), history=[*_history(index), earlier[-1]])
        await self.store.put(_index_key(name), json.dumps(index, indent=2).encode(), "application/json")
        return current, earlier[-1]

    # -- reading ----------------------------------------------------------------------------------

    async def _index(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(await self.store.get(_index_key(name)))
        except ObjectNotFound:
            return {"name": name, "versions": [], "latest": None}

    async def _manifest_or_none(self, name: str, version: str) -> dict[str, Any] | None:
        try:
            key = validate_key(f"{version_prefix(name, version)}/manifest.json")
            return json.loads(await self.store.get(key))
        except ObjectNotFound:
            return None

    async def versions(self, name: str) -> list[ModelVersion]:
        """Published versions of ``name``, oldest first (only those whose manifest exists)."""
        out = []
        for version in (await self._index(name))["versions"]:
            manifest = await self._manifest_or_none(name, version)
            if manifest is not None:
                out.append(ModelVersion(name, version, manifest["published_at"], manifest))
        return out

    async def latest(self, name: str) -> str | None:
        index = await self._index(name)
        return index["latest"] if index["latest"] in index["versions"] else None

    async def fetch(self, name: str, version: str) -> Path:
        """The version's artefact directory in the local cache, downloaded and verified if needed."""
        manifest = await self._manifest_or_none(name, version)
        if manifest is None:
            raise VersionNotFound(f"model {name} version {version} is not in the registry")
        target = self.cache_dir / _check(name, "name") / _check(version, "version")
        if await asyncio.to_thread(self._verified, target, manifest):
            return target
        prefix = version_prefix(name, version)
        blobs: dict[str, bytes] = {}
        for fname, info in manifest["files"].items():
            data = await self.store.get(validate_key(f"{prefix}/{fname}"))
            if _sha256(data) != info["sha256"]:
                raise RegistryError(f"{name} {version}: {fname} does not match its manifest sha256")
            blobs[fname] = data
        await asyncio.to_thread(self._install, target, blobs, manifest)
        return target

    def _install(self, target: Path, blobs: dict[str, bytes], manifest: dict[str, Any]) -> None:
        """Write into a temp dir beside the target, then rename: a half-written cache never loads."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=self.cache_dir))
        try:
            for fname, data in blobs.items():
                (tmp / fname).write_bytes(data)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _verified(path: Path, manifest: dict[str, Any]) -> bool:
        for fname, info in manifest["files"].items():
            f = path / fname
            if not f.exists() or f.stat().st_size != info["bytes"]:
                return False
            if _sha256(f.read_bytes()) != info["sha256"]:
                return False
        return True


async def resolve_artefact(registry: ModelRegistry, name: str, version: str, shipped: Path) -> Path:
    """Where the configured model lives locally.

    ``version`` empty = the newest published version of ``name``; when the store has none, the
    shipped weights (so a fresh install and CI work out of the box). A configured version that the
    store lacks is an error, unless it is the shipped artefact's own version.
    """
    if version:
        try:
            return await registry.fetch(name, version)
        except VersionNotFound:
            shipped_meta = json.loads((shipped / "model.json").read_text())
            if shipped_meta.get("name") == name and str(shipped_meta.get("version")) == version:
                return shipped
            raise
    latest = await registry.latest(name)
    return await registry.fetch(name, latest) if latest else shipped


def _byo_meta(artefact_dir: Path) -> dict[str, Any]:
    """model.json for a bring-your-own artefact, once ``model.byo.check`` finds nothing wrong with it
    (imported here: ONNX Runtime loads only when such a model is published)."""
    from bk_detector.model.byo import check, runtime_meta

    label_map, problems = check(artefact_dir)
    if problems or label_map is None:
        raise ModelRefused(problems)
    return runtime_meta(label_map, label_map.name, label_map.version)
