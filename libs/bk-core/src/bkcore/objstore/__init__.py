"""Object store: snapshots and evidence. S3 (MinIO) in production, a local directory embedded."""

from bkcore.objstore.base import ObjectNotFound, ObjectStore, evidence_key, validate_key, validate_prefix
from bkcore.objstore.factory import make_object_store
from bkcore.objstore.local import LocalObjectStore
from bkcore.objstore.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "ObjectNotFound",
    "ObjectStore",
    "S3ObjectStore",
    "evidence_key",
    "make_object_store",
    "validate_key",
    "validate_prefix",
]
