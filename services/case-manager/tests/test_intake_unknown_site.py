"""``intake`` never drops a signal silently (#18.2): the consumers hold signals for a site the
directory lacks before intake (``bk_cases.held``); one that gets past them anyway — which should not
happen — is an error the bus retries and dead-letters, not a log line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bk_cases.cases.enums import Source
from bk_cases.cases.flows import Signal, UnknownSite, intake, intake_many
from bk_cases.cases.models import Case
from bk_cases.service import CaseService


def signal(site_id: str, ref: str) -> Signal:
    return Signal(
        tenant_id="minghu",
        site_id=site_id,
        case_type="no_chef_hat",
        source=Source.DETECTION,
        source_ref=ref,
        seen_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        camera_id="cam-x",
    )


async def test_intake_of_an_unknown_site_is_an_error_not_a_drop(service: CaseService) -> None:
    ctx = service.ctx
    for body in (
        lambda s: intake(ctx, s, signal("no-such-site", "v1")),
        lambda s: intake_many(ctx, s, [signal("lakeside-primary", "v2"), signal("no-such-site", "v3")]),
    ):
        with pytest.raises(UnknownSite, match="no-such-site"):
            async with ctx.db.session() as session:
                await body(session)
    async with ctx.db.session() as session:  # the batch failed whole: the bus retries or dead-letters it
        assert await session.scalar(select(func.count()).select_from(Case)) == 0
        case, created = await intake(ctx, session, signal("lakeside-primary", "v4"))
        assert created and case.org_path.startswith("/minghu")
