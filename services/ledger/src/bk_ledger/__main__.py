"""Run the ledger on its own: ``python -m bk_ledger`` (settings from ``BK_*`` environment variables)."""

from bk_ledger.service import create_service
from bk_ledger.settings import LedgerSettings
from bkcore.standalone import serve_standalone

if __name__ == "__main__":
    serve_standalone(LedgerSettings, create_service)
