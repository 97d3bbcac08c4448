"""The synthetic generators by name, and the frozen held-out sets every model is measured on.

v1 is the flat, eye-level generator the first detector was tuned on; v2 is the ceiling-CCTV generator.
A held-out set is a seed no training set may use and a size; frame i of a set depends only on (seed, i),
so a smaller n is a prefix of the full set. `REVISION` changes whenever a generator's pictures change,
so a cached copy made by older code is never mistaken for the frozen set.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

GENERATORS: dict[str, str] = {"v1": "flat", "v2": "cctv"}  # generator -> render_random style
REVISION: dict[str, int] = {"v1": 1, "v2": 1}


@dataclass(frozen=True)
class HeldOut:
    generator: str
    seed: int
    n: int
    width: int = 640
    height: int = 360


# Seeds reserved for evaluation: never train on them. v1's is the test set of docs/detector-model.md.
HELDOUT: dict[str, HeldOut] = {"v1": HeldOut("v1", 33, 2000), "v2": HeldOut("v2", 733, 1000)}


def style_of(generator: str) -> str:
    try:
        return GENERATORS[generator]
    except KeyError:
        raise ValueError(
            f"unknown generator {generator!r}: expected one of {', '.join(GENERATORS)}"
        ) from None


def _cache_root() -> Path:
    return Path(os.environ.get("BK_SYNTH_CACHE", Path.home() / ".cache" / "bk-synth"))


def heldout(
    generator: str = "v2",
    n: int | None = None,
    out_dir: str | Path | None = None,
    *,
    workers: int | None = None,
    progress: bool = False,
) -> Path:
    """The frozen held-out COCO set of a generator (first n frames; default its full size): rendered once
    into out_dir (default $BK_SYNTH_CACHE or ~/.cache/bk-synth/heldout-<gen>-<n>) and reused while the
    generator's revision is unchanged. Returns the folder to give `load_coco` / `detector eval`."""
    from bksynth.coco import write_coco

    style_of(generator)
    spec = HELDOUT[generator]
    n = spec.n if n is None else n
    if not 0 < n <= spec.n:
        raise ValueError(f"held-out {generator} has {spec.n} frames; asked for {n}")
    out = Path(out_dir) if out_dir else _cache_root() / f"heldout-{generator}-{n}"
    want = {**asdict(spec), "n": n, "revision": REVISION[generator]}
    manifest = out / "heldout.json"
    if manifest.exists() and (out / "annotations.json").exists():
        have = json.loads(manifest.read_text())
        if {k: have.get(k) for k in want} == want and have.get("sha256") == _sha256(out / "annotations.json"):
            return out
    path = write_coco(
        out, n, spec.seed, spec.width, spec.height, progress=progress, workers=workers, generator=generator
    )
    manifest.write_text(json.dumps({**want, "sha256": _sha256(path)}, indent=2))
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
