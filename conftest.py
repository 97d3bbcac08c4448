"""Workspace-wide pytest options.

``gpu`` tests need a CUDA GPU, which CI never has. Without ``--gpu`` they are deselected, and the
summary counts them as deselected; with ``--gpu`` they run, and fail loudly where no GPU is found.
On a GPU machine: ``pytest --gpu -m gpu``.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--gpu", action="store_true", help="also run tests marked gpu (needs CUDA)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--gpu"):
        return
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]
