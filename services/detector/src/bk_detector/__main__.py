"""Run the detector on its own: ``python -m bk_detector`` (settings from ``BK_*`` variables).

gRPC on BK_GRPC_HOST:BK_GRPC_PORT for gateways; HTTP (health, readiness, metrics, /model) on
BK_HTTP_HOST:BK_HTTP_PORT for Kubernetes probes and Prometheus.
"""

from bk_detector.service import create_service
from bk_detector.settings import DetectorSettings
from bkcore.standalone import serve_standalone

if __name__ == "__main__":
    serve_standalone(DetectorSettings, create_service)
