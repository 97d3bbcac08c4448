"""Which gateway replica owns a camera: rendezvous (highest-random-weight) hashing.

Every replica computes the same answer from the same replica list, with no coordination; when a
replica joins, only the cameras for which it now scores highest move to it (about 1/n of them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _score(replica: str, camera_id: str) -> int:
    digest = hashlib.blake2b(f"{replica}\x00{camera_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(camera_id: str, replicas: Sequence[str]) -> str | None:
    """The replica that pulls ``camera_id``; None when there are no replicas."""
    if not replicas:
        return None
    return max(replicas, key=lambda r: (_score(r, camera_id), r))


def owns(camera_id: str, replica: str, replicas: Sequence[str]) -> bool:
    """Whether ``replica`` pulls ``camera_id``; an empty replica list means one replica owns all."""
    return not replicas or owner(camera_id, replicas) == replica
