"""The detector pool on the rendered chart: gateways find every detector pod, and the pool's
autoscaler reads a metric the detector exports, which an overload pushes past the target.

The simulation is bench/autoscale_sim.py's (real DynamicBatchers, a model that sleeps a fixed time
per batch, gateway-like feeders); the autoscaler is the chart's, applied with the Kubernetes formula.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path

import pytest

from bk_gateway.settings import GatewaySettings

from .test_chart import _render_module, find, pod_spec, rendered

ROOT = Path(__file__).resolve().parents[2]
BATCH_S, MAX_BATCH = 0.02, 8
POD_FPS = MAX_BATCH / BATCH_S  # what one simulated pod serves at most
# profiles with different autoscalers: HPA 1-8 (default), KEDA 4-16 (prod), HPA 2-32 (CPU pool)
SCALING_PROFILES = ("default", "prod", "prod+cpu")


@cache
def sim():
    spec = importlib.util.spec_from_file_location("bk_autoscale_sim", ROOT / "bench" / "autoscale_sim.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("profile", ["default", "dev", "prod", "cpu", "prod+cpu", "prod+nvdec"])
def test_the_pool_scales_on_the_load_ratio_the_detector_exports(profile):
    from bk_detector import metrics

    scaler = sim().detector_autoscaler(list(rendered(profile)))
    assert scaler.metric == metrics.LOAD_RATIO.describe()[0].name == "bk_detector_load_ratio"
    # a saturated pod reads 1: the target must leave more than the HPA's 10% tolerance below it
    assert 0 < scaler.target < 1 / 1.1
    assert 1 <= scaler.min_replicas < scaler.max_replicas


def test_a_target_an_overload_cannot_pass_is_refused():
    import helm_python

    for bad in ("0.95", "1", "0"):
        extra = {"services": {"detector": {"autoscaling": {"targetLoadRatio": bad}}}}
        with pytest.raises(helm_python.HelmError, match="targetLoadRatio must be in"):
            _render_module().render([], extra=extra)


@pytest.mark.parametrize("profile", SCALING_PROFILES)
async def test_a_3x_overload_asks_for_more_pods(profile):
    scaler = sim().detector_autoscaler(list(rendered(profile)))
    pods = scaler.min_replicas
    fig = await sim().run_pool(pods, 3 * POD_FPS * pods, batch_s=BATCH_S, max_batch=MAX_BATCH)
    assert fig.dropped_fps > 0, "the simulated gateways must be shedding frames: an overload"
    # the metric as exported (the gauge of the last pod started) is that pod's ratio
    assert fig.exported == pytest.approx(fig.last_pod_ratio, abs=0.01)
    assert fig.load_ratio > scaler.target * 1.1
    assert scaler.desired(pods, fig.load_ratio) > pods


@pytest.mark.parametrize("profile", SCALING_PROFILES)
async def test_an_idle_pool_scales_down_to_its_minimum(profile):
    scaler = sim().detector_autoscaler(list(rendered(profile)))
    pods = scaler.max_replicas
    fig = await sim().run_pool(pods, 0.0, batch_s=BATCH_S, max_batch=MAX_BATCH, measure_s=0.5)
    assert fig.load_ratio == 0.0
    assert scaler.desired(pods, fig.load_ratio) == scaler.min_replicas


async def test_half_load_asks_for_a_pool_in_proportion():
    scaler = sim().detector_autoscaler(list(rendered("default")))
    pods = 4
    fig = await sim().run_pool(pods, 0.5 * POD_FPS * pods, batch_s=BATCH_S, max_batch=MAX_BATCH)
    assert fig.dropped_fps == 0
    # about half of what a pod serves: not read as busy although its batches run back to back
    assert 0.35 <= fig.load_ratio <= 0.75
    assert scaler.desired(pods, fig.load_ratio) in (3, 4, 5)


def test_the_autoscaler_formula():
    a = sim().Autoscaler("HorizontalPodAutoscaler", "m", 0.7, 2, 10)
    assert a.desired(4, 0.72) == 4  # within 10%: no change
    assert a.desired(4, 1.0) == 6  # ceil(4 x 1.0 / 0.7) = ceil(5.71)
    assert a.desired(8, 2.0) == 10  # clamped to max
    assert a.desired(8, 0.0) == 2  # clamped to min
    assert sim().quantity("700m") == sim().quantity("0.7") == 0.7


# --- discovery -------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "dev", "prod", "prod+cpu"])
def test_gateways_resolve_the_detector_pods_from_a_headless_service(profile):
    docs = rendered(profile)
    gateway = find(docs, "StatefulSet", "bk-stream-gateway")
    env = {e["name"]: e.get("value") for e in pod_spec(gateway)["containers"][0]["env"]}
    assert env["BK_DETECTOR_DISCOVERY"] == "dns"
    host, _, port = env["BK_DETECTOR_ENDPOINTS"].rpartition(":")
    svc = find(docs, "Service", host)
    assert svc["spec"]["clusterIP"] == "None", "a ClusterIP would hide the pods behind one address"
    assert not svc["spec"].get("publishNotReadyAddresses"), "frames only to pods that are ready"
    detector = find(docs, "Deployment", "bk-detector")
    labels = detector["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    grpc = next(p for p in svc["spec"]["ports"] if p["name"] == "grpc")
    assert int(port) == grpc["port"]
    assert {"name": "grpc", "containerPort": int(port), "protocol": "TCP"} in pod_spec(detector)[
        "containers"
    ][0]["ports"]
    # and the gateway accepts what the chart gives it
    s = GatewaySettings(
        detector_discovery=env["BK_DETECTOR_DISCOVERY"],
        detector_endpoints=env["BK_DETECTOR_ENDPOINTS"],
        gateway_id="bk-stream-gateway-0",
    )
    assert s.endpoints == [f"{host}:{port}"]
