"""Staff data functions: roster, current certificates, the question bank and exam results."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bk_ledger.common import records
from bk_ledger.common.columns import new_id
from bk_ledger.common.config import RuleConfig
from bk_ledger.common.findings import Finding
from bk_ledger.sites.models import SiteInfo
from bk_ledger.staff import rules
from bk_ledger.staff.models import (
    CourseIn,
    HealthCertificateIn,
    QuestionIn,
    courses,
    exam_results,
    health_certificates,
    questions,
    staff_members,
)
from bkcore.auth import Principal


async def active_staff_ids(session: AsyncSession, *, tenant_id: str, site_id: str) -> set[str]:
    t = staff_members
    rows = await session.execute(
        select(t.c.id).where(t.c.tenant_id == tenant_id, t.c.site_id == site_id, t.c.active.is_(True))
    )
    return {r.id for r in rows}


async def get_staff(session: AsyncSession, *, tenant_id: str, site_id: str, staff_id: str) -> Any:
    t = staff_members
    return (
        await session.execute(
            select(t).where(t.c.tenant_id == tenant_id, t.c.site_id == site_id, t.c.id == staff_id)
        )
    ).first()


async def current_certificates(session: AsyncSession, *, tenant_id: str, site_id: str) -> list[Any]:
    """(staff_id, name, latest expiry) of every active staff member who has a certificate."""
    h, m = health_certificates, staff_members
    stmt = (
        select(m.c.id, m.c.name, func.max(h.c.expires_on).label("expires_on"))
        .join(h, h.c.staff_id == m.c.id)
        .where(m.c.tenant_id == tenant_id, m.c.site_id == site_id, m.c.active.is_(True))
        .group_by(m.c.id, m.c.name)
    )
    return list(await session.execute(stmt))


def local_today(site: SiteInfo, now: datetime) -> date:
    return now.astimezone(ZoneInfo(site.timezone)).date()


async def sweep_site(session: AsyncSession, site: SiteInfo, cfg: RuleConfig, now: datetime) -> list[Finding]:
    today = local_today(site, now)
    return [
        rules.certificate_finding(
            site_id=site.site_id,
            staff_id=r.id,
            staff_name=r.name,
            expires_on=r.expires_on,
            today=today,
            cfg=cfg.expiry,
            tz=site.timezone,
        )
        for r in await current_certificates(session, tenant_id=site.tenant_id, site_id=site.site_id)
    ]


async def add_questions(session: AsyncSession, *, course_id: str, items: list[QuestionIn]) -> None:
    await session.execute(
        questions.insert(),
        [
            {"id": new_id(), "course_id": course_id, "text": q.text, "options": q.options, "answer": q.answer}
            for q in items
        ],
    )


async def answer_key(session: AsyncSession, *, course_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(questions.c.id, questions.c.answer).where(questions.c.course_id == course_id)
    )
    return {r.id: r.answer for r in rows}


async def list_questions(session: AsyncSession, *, course_id: str) -> list[dict[str, Any]]:
    """The exam paper: questions and options, never the answers."""
    rows = await session.execute(
        select(questions.c.id, questions.c.text, questions.c.options)
        .where(questions.c.course_id == course_id)
        .order_by(questions.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def record_certificate(
    session: AsyncSession, body: HealthCertificateIn, *, site: SiteInfo, principal: Principal, now: datetime
) -> dict[str, Any]:
    return await records.insert(
        session,
        health_certificates,
        site=site,
        principal=principal,
        now=now,
        values=body.model_dump(exclude={"site_id"}),
    )


async def create_course(
    session: AsyncSession, body: CourseIn, *, site: SiteInfo, principal: Principal, now: datetime
) -> str:
    """Write a course and its question bank; returns the course's id."""
    rec = await records.insert(
        session,
        courses,
        site=site,
        principal=principal,
        now=now,
        values=body.model_dump(exclude={"site_id", "questions"}),
    )
    await add_questions(session, course_id=rec["id"], items=body.questions)
    return str(rec["id"])


async def record_exam(
    session: AsyncSession,
    *,
    course: dict[str, Any],
    site: SiteInfo,
    principal: Principal,
    staff_id: str,
    score: int,
    passed: bool,
    now: datetime,
) -> dict[str, Any]:
    """Write an exam result; a pass carries a training certificate valid the course's days."""
    today = local_today(site, now)
    values = {
        "course_id": course["id"],
        "staff_id": staff_id,
        "score": score,
        "passed": passed,
        "certificate_no": f"TC-{today:%Y%m%d}-{new_id()[:8].upper()}" if passed else None,
        "certificate_expires_on": today + timedelta(days=course["certificate_valid_days"])
        if passed
        else None,
    }
    return await records.insert(session, exam_results, site=site, principal=principal, now=now, values=values)
