"""Run the case-manager alone (production: one service per pod), or verify the audit log.

python -m bk_cases                       # serve HTTP + consumers + relay + sweeper
python -m bk_cases verify-audit [TENANT] # recompute the keyed chains against their checkpoints;
                                         # exit 1 if any is broken (needs BK_AUDIT_KEY, or the
                                         # embedded key under BK_DATA_DIR)
"""

from __future__ import annotations

import asyncio
import sys

from bk_cases.service import CaseService, create_service
from bk_cases.settings import CaseSettings
from bkcore.logging import setup_logging
from bkcore.runtime import build_runtime
from bkcore.settings import load_settings
from bkcore.standalone import serve_standalone


async def verify_audit(settings: CaseSettings, tenant: str | None) -> int:
    from bk_cases.audit import service as audit

    svc: CaseService = create_service(build_runtime(settings), settings)
    await svc.migrate()
    broken = 0
    async with svc.db.session() as session:
        for tid in [tenant] if tenant else await audit.tenants(db_session=session):
            report = await audit.verify(db_session=session, tenant_id=tid, store=svc.ctx.runtime.store)
            print(f"{tid}: {'ok' if report.ok else 'BROKEN'} ({report.entries} entries)")
            for problem in report.problems:
                print(f"  - {problem}")
            broken += not report.ok
    await svc.db.dispose()
    return 1 if broken else 0


def main(argv: list[str]) -> int:
    settings = load_settings(CaseSettings)
    setup_logging(settings.service_name, settings.log_level, settings.log_json)
    if argv[:1] == ["verify-audit"]:
        return asyncio.run(verify_audit(settings, argv[1] if len(argv) > 1 else None))
    serve_standalone(CaseSettings, create_service)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
