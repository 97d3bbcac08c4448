"""Routes of suppliers and purchase inspection: multipart writes with photos, stored all or none."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from bk_ledger.common import alerts, records
from bk_ledger.common.context import LedgerContext, rule_config
from bk_ledger.common.crud import READERS, WRITERS, Created, findings_out
from bk_ledger.common.errors import field_error
from bk_ledger.common.photos import PhotoBatch
from bk_ledger.common.uploads import check_photos, parse_payload
from bk_ledger.purchase import service
from bk_ledger.purchase.models import PurchaseIn, SupplierIn, purchases, suppliers
from bk_ledger.sites.service import visible_site
from bkcore.auth import Principal
from bkcore.inputs import Day, Limit, Offset, upload_body_limit
from bkcore.late_form import form_files, form_text, multipart_body, read_form

PAYLOAD_DOC = "the record as JSON (see the schema of this ledger)"
PAYLOAD_MAX_LENGTH = 16 * 1024  # a supplier or a purchase is a few hundred characters of JSON
_PAYLOAD = {"type": "string", "maxLength": PAYLOAD_MAX_LENGTH, "description": PAYLOAD_DOC}


def router(ctx: LedgerContext) -> APIRouter:
    r = APIRouter(prefix="/v1", tags=["purchase 进货查验"])
    most = ctx.settings.max_photos_per_record
    limits = {"max_count": most, "max_bytes": ctx.settings.max_photo_bytes}

    # Both routes read their form themselves, after the caller is authenticated and authorised
    # (bkcore.late_form): a stranger's upload is refused before a byte of it is read.
    @r.post(
        "/suppliers",
        status_code=201,
        response_model=Created,
        summary="Register a supplier with licences",
        max_body_size=upload_body_limit(files=most, file_bytes=ctx.settings.max_photo_bytes),
        openapi_extra=multipart_body({"payload": _PAYLOAD}, files={"licences": most}),
    )
    async def create_supplier(
        request: Request, p: Principal = Depends(ctx.auth.require_roles(*WRITERS))
    ) -> Created:
        form = await read_form(request, max_files=most, max_fields=4)
        try:
            body: SupplierIn = parse_payload(
                SupplierIn, form_text(form, "payload", max_length=PAYLOAD_MAX_LENGTH, default=None)
            )
            photos = await check_photos(
                form_files(form, "licences"), field_name="licences", required=True, **limits
            )
        finally:
            await form.close()
        now = ctx.now()
        batch = PhotoBatch(ctx.store, p.tenant_id, body.site_id, "supplier", now)
        try:
            async with ctx.db.session() as s:
                site = await visible_site(s, p, body.site_id)
                cfg = await rule_config(s, site.tenant_id)
                keys = await batch.put(photos)
                rec = await service.register_supplier(
                    s, body, site=site, principal=p, now=now, licence_photos=keys
                )
                findings = [f for f in service.supplier_findings(rec, site, cfg, now) if f.active]
                written = await alerts.emit(s, site.tenant_id, findings, now)
        except BaseException:
            await batch.rollback()
            raise
        if written:
            ctx.alerts_written()
        return Created(id=rec["id"], findings=findings_out(findings))

    @r.post(
        "/purchases",
        status_code=201,
        response_model=Created,
        summary="Record a purchase inspection",
        max_body_size=upload_body_limit(files=2 * most, file_bytes=ctx.settings.max_photo_bytes),
        openapi_extra=multipart_body({"payload": _PAYLOAD}, files={"certificates": most, "invoices": most}),
    )
    async def create_purchase(
        request: Request, p: Principal = Depends(ctx.auth.require_roles(*WRITERS))
    ) -> Created:
        form = await read_form(request, max_files=2 * most, max_fields=4)
        try:
            body: PurchaseIn = parse_payload(
                PurchaseIn, form_text(form, "payload", max_length=PAYLOAD_MAX_LENGTH, default=None)
            )
            certs = await check_photos(
                form_files(form, "certificates"), field_name="certificates", required=True, **limits
            )
            invs = await check_photos(
                form_files(form, "invoices"), field_name="invoices", required=True, **limits
            )
        finally:
            await form.close()
        now = ctx.now()
        batch = PhotoBatch(ctx.store, p.tenant_id, body.site_id, "purchase", now)
        try:
            async with ctx.db.session() as s:
                site = await visible_site(s, p, body.site_id)
                sup = await service.get_supplier(s, tenant_id=site.tenant_id, supplier_id=body.supplier_id)
                if sup is None or sup["site_id"] != site.site_id:
                    raise field_error(("body", "payload", "supplier_id"), "no such supplier at this site")
                rec = await service.record_purchase(
                    s,
                    body,
                    site=site,
                    principal=p,
                    now=now,
                    certificate_photos=await batch.put(certs),
                    invoice_photos=await batch.put(invs),
                )
        except BaseException:
            await batch.rollback()
            raise
        return Created(id=rec["id"], findings=[])

    for path, table, date_col in (
        ("suppliers", suppliers, suppliers.c.created_at),
        ("purchases", purchases, purchases.c.purchase_date),
    ):
        _read_routes(r, ctx, path, table, date_col)
    return r


def _read_routes(r: APIRouter, ctx: LedgerContext, path: str, table: Any, date_col: Any) -> None:
    async def list_(
        site_id: str | None = None,
        start: Day | None = None,
        end: Day | None = None,
        limit: Limit = 200,
        offset: Offset = 0,
        p: Principal = Depends(ctx.auth.require_roles(*READERS)),
    ) -> list[dict[str, Any]]:
        async with ctx.db.session() as s:
            return await records.list_records(
                s,
                table,
                p,
                date_col=date_col,
                site_id=site_id,
                start=start,
                end=end,
                limit=limit,
                offset=offset,
            )

    async def get(record_id: str, p: Principal = Depends(ctx.auth.require_roles(*READERS))) -> dict[str, Any]:
        async with ctx.db.session() as s:
            return await records.get_one(s, table, p, record_id)

    r.add_api_route(f"/{path}", list_, methods=["GET"], summary=f"List {path}")
    r.add_api_route(f"/{path}/{{record_id}}", get, methods=["GET"], summary=f"One of {path}")
