"""Demo content of the public window: stable invite codes, a notice, food-safety tips."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from bk_public.context import Context
from bk_public.models import invite_code, notice

TIPS = (
    ("生熟分开", "切配生食和熟食的刀具、砧板、容器要分开使用并有明显标识。"),
    ("留样 48 小时", "学校食堂每餐每样菜品留样不少于 125 克，冷藏保存 48 小时以上。"),
    ("餐具消毒", "餐具煮沸消毒 100 °C 保持 10 分钟以上，消毒后放入保洁柜。"),
)


def demo_code(tenant_id: str, site_id: str) -> str:
    """The same code for a site on every start, so the demo's printed codes stay valid."""
    return "BK" + hashlib.sha256(f"{tenant_id}/{site_id}".encode()).hexdigest()[:6].upper()


async def seed(ctx: Context, *, tenant_id: str, site_ids: list[str]) -> dict[str, str]:
    now = ctx.runtime.clock.now()
    codes = {sid: demo_code(tenant_id, sid) for sid in site_ids}
    async with ctx.db.session() as s:
        have = set(
            (
                await s.execute(select(invite_code.c.code).where(invite_code.c.code.in_(codes.values())))
            ).scalars()
        )
        for sid, code in codes.items():
            if code not in have:
                await s.execute(
                    invite_code.insert().values(
                        code=code,
                        tenant_id=tenant_id,
                        site_id=sid,
                        label="demo",
                        created_by="demo",
                        created_at=now,
                        expires_at=now + timedelta(days=365),
                    )
                )
        if (
            await s.execute(select(notice.c.id).where(notice.c.tenant_id == tenant_id).limit(1))
        ).first() is None:
            await s.execute(
                notice.insert().values(
                    id="n-demo-welcome",
                    tenant_id=tenant_id,
                    site_id=None,
                    kind="notice",
                    title="明厨亮灶家长端上线",
                    body="家长可绑定孩子所在学校，在开餐时段观看后厨直播，查看今日台账公示并评价。",
                    published_at=now,
                )
            )
            for i, (title, body) in enumerate(TIPS):
                await s.execute(
                    notice.insert().values(
                        id=f"n-demo-tip-{i}",
                        tenant_id=tenant_id,
                        site_id=None,
                        kind="tip",
                        title=title,
                        body=body,
                        published_at=now,
                    )
                )
    return codes
