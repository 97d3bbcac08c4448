"""CUDA graphs give the same detections as eager runs, per thread, with two threads at once.

Needs a CUDA GPU: marked ``gpu``, which the test command deselects (CI has no GPU); run on a GPU
machine with ``pytest -m gpu services/detector/tests/test_cuda_graphs.py``. Without CUDA these
tests fail, loudly, rather than skip.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from bk_detector.model.runtime import ModelRuntime
from bk_detector.testing import assert_same_detections, demo_jpegs

pytestmark = pytest.mark.gpu

BUCKETS = (8, 16, 32)


def _runtime(graphs: bool) -> ModelRuntime:
    assert torch.cuda.is_available(), "this test needs a CUDA GPU (pytest -m gpu on a GPU machine)"
    return ModelRuntime.load(None, device="cuda", buckets=BUCKETS, cuda_graphs=graphs)


def test_graph_replays_match_eager_at_every_bucket() -> None:
    eager, graphed = _runtime(False), _runtime(True)
    assert graphed.cuda_graphs and not eager.cuda_graphs
    eager.warm_up()
    assert graphed.warm_up() == list(BUCKETS)
    assert sorted(graphed._local().graphs) == list(BUCKETS)  # captured on this thread
    frames = demo_jpegs(40)
    found = 0
    for n in (1, 5, 8, 13, 16, 29, 40):  # 40 > the largest bucket: two chunks
        want, got = eager.predict_jpeg(frames[:n]), graphed.predict_jpeg(frames[:n])
        assert_same_detections(got, want, tol=2e-3)
        found += sum(map(len, got))
    assert found > 0, "the demo frames should show people"


def test_each_thread_replays_its_own_graphs_concurrently() -> None:
    eager, graphed = _runtime(False), _runtime(True)
    frames = demo_jpegs(24)
    want = {n: eager.predict_jpeg(frames[:n]) for n in (3, 11, 24)}

    def serve(n: int) -> list:
        graphed.warm_up()  # captures this thread's graphs, as the batcher does per inference thread
        assert sorted(graphed._local().graphs) == list(BUCKETS)
        return [graphed.predict_jpeg(frames[:n]) for _ in range(20)]

    with ThreadPoolExecutor(2) as pool:
        runs = {n: pool.submit(serve, n) for n in (11, 24)}
        for n, fut in runs.items():
            for got in fut.result():
                assert_same_detections(got, want[n], tol=2e-3)
