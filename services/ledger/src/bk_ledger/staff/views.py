"""Routes of the staff roster, health certificates and training."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from bk_ledger.common import alerts, records
from bk_ledger.common.config import RuleConfig
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.common.crud import READERS, WRITERS, Created, Prepared, findings_out, ledger_router
from bk_ledger.common.deps import get_ctx, roles
from bk_ledger.common.errors import field_error
from bk_ledger.sites.models import SiteInfo
from bk_ledger.sites.service import visible_site
from bk_ledger.staff import rules, service
from bk_ledger.staff.models import (
    CourseIn,
    ExamIn,
    HealthCertificateIn,
    StaffIn,
    courses,
    exam_results,
    health_certificates,
    staff_members,
)
from bkcore.auth import Principal, Role

MANAGERS = (Role.PLATFORM_ADMIN, Role.SITE_MANAGER)


def prepare_staff(body: StaffIn, cfg: RuleConfig, site: SiteInfo, rid: str) -> Prepared:
    return body.model_dump(exclude={"site_id"}), []


r = APIRouter(prefix="/v1", tags=["staff 从业人员"])


@r.post(
    "/health-certificates", status_code=201, response_model=Created, summary="Record a health certificate"
)
async def create_certificate(
    body: HealthCertificateIn, p: Principal = Depends(roles(*MANAGERS)), ctx: LedgerContext = Depends(get_ctx)
) -> Created:
    now = ctx.now()
    async with ctx.db.session() as s:
        site = await visible_site(s, p, body.site_id)
        staff = await service.get_staff(
            s, tenant_id=site.tenant_id, site_id=site.site_id, staff_id=body.staff_id
        )
        if staff is None:
            raise field_error(("body", "staff_id"), "no such staff member at this site")
        rec = await service.record_certificate(s, body, site=site, principal=p, now=now)
        # Evaluate the staff member's newest certificate: a renewal clears an expiry alarm at once.
        findings = await service.sweep_site(s, site, await rule_config(s, site.tenant_id), now)
        findings = [f for f in findings if f.subject_id == body.staff_id]
        written = await alerts.emit(s, site.tenant_id, findings, now)
    if written:
        ctx.alerts_written()
    return Created(id=rec["id"], findings=findings_out([f for f in findings if f.active]))


@r.get("/health-certificates", summary="List health certificates")
async def list_certificates(
    site_id: str | None = None, p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        return await records.list_records(
            s,
            health_certificates,
            p,
            date_col=health_certificates.c.expires_on,
            site_id=site_id,
            start=None,
            end=None,
        )


@r.post(
    "/training/courses",
    status_code=201,
    response_model=Created,
    summary="Create a course and its questions",
)
async def create_course(
    body: CourseIn, p: Principal = Depends(roles(*MANAGERS)), ctx: LedgerContext = Depends(get_ctx)
) -> Created:
    async with ctx.db.session() as s:
        site = await visible_site(s, p, body.site_id)
        course_id = await service.create_course(s, body, site=site, principal=p, now=ctx.now())
    return Created(id=course_id, findings=[])


@r.get("/training/courses/{course_id}/paper", summary="The exam paper (no answers)")
async def paper(
    course_id: str, p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        course = await records.get_one(s, courses, p, course_id)
        return {"course": course, "questions": await service.list_questions(s, course_id=course_id)}


@r.post("/training/courses/{course_id}/exams", status_code=201, summary="Submit an exam; scores it")
async def take_exam(
    course_id: str,
    body: ExamIn,
    p: Principal = Depends(roles(*WRITERS)),
    ctx: LedgerContext = Depends(get_ctx),
) -> dict[str, Any]:
    now = ctx.now()
    async with ctx.db.session() as s:
        course = await records.get_one(s, courses, p, course_id)
        site = await visible_site(s, p, course["site_id"])
        if (
            await service.get_staff(s, tenant_id=site.tenant_id, site_id=site.site_id, staff_id=body.staff_id)
            is None
        ):
            raise field_error(("body", "staff_id"), "no such staff member at this site")
        key = await service.answer_key(s, course_id=course_id)
        unknown = sorted(set(body.answers) - set(key))
        if unknown:
            raise field_error(("body", "answers", unknown[0]), "not a question of this course")
        pct = rules.score(body.answers, key)
        return await service.record_exam(
            s,
            course=course,
            site=site,
            principal=p,
            staff_id=body.staff_id,
            score=pct,
            passed=rules.passed(pct, course["pass_score"]),
            now=now,
        )


@r.get("/training/exams", summary="Exam results and certificates")
async def list_exams(
    site_id: str | None = None, p: Principal = Depends(roles(*READERS)), ctx: LedgerContext = Depends(get_ctx)
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        return await records.list_records(
            s, exam_results, p, date_col=exam_results.c.created_at, site_id=site_id, start=None, end=None
        )


router = APIRouter()
router.include_router(
    ledger_router(
        path="staff",
        tag="staff 从业人员",
        table=staff_members,
        model=StaffIn,
        date_col=staff_members.c.created_at,
        prepare=prepare_staff,
    )
)
router.include_router(r)
