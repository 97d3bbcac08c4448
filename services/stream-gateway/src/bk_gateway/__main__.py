"""Run the gateway alone: ``python -m bk_gateway`` (settings from BK_* environment variables)."""

from bk_gateway.service import create_service
from bk_gateway.settings import GatewaySettings
from bkcore.standalone import serve_standalone

if __name__ == "__main__":
    serve_standalone(GatewaySettings, create_service)
