"""The fault suite's helper modules (fault_*.py) on the import path; its servers are started by the
tests themselves, fresh for each module, since a fault may leave them changed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let the tests import fault_*.py
