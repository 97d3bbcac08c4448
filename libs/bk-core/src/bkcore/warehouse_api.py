"""The warehouse export's request and answer, the same on every service that exports (one shape
for ``brightkitchen export`` to drive): ``POST …/warehouse/exports``."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Annotated

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bkcore.auth import Principal, Role, Scope
from bkcore.inputs import Day
from bkcore.warehouse import Manifest, days

#: Who may run an export: a tenant's platform admin, or a service identity holding the scope.
EXPORTERS = (Role.PLATFORM_ADMIN, Role.SERVICE)
SCOPE = Scope.WAREHOUSE_EXPORT


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(
        max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", description="租户 · tenant id"
    )
    start: Day = Field(description="first UTC day of the window 窗口首日")
    end: Day = Field(description="last UTC day, included 窗口末日（含）")
    tables: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=64, description="empty: every table"
    )

    @model_validator(mode="after")
    def _window(self) -> ExportIn:
        days(self.start, self.end)  # ValueError (a 422 naming it) for a window backwards or too long
        return self

    def window(self, known: Collection[str]) -> list[date]:
        """The days to run, one by one; a table the service does not export is a 422 before any."""
        unknown = sorted(set(self.tables) - set(known))
        if unknown:
            msg = f"unknown tables {unknown}; this service exports {sorted(known)}"
            raise RequestValidationError([{"type": "value_error", "loc": ("body", "tables"), "msg": msg}])
        return days(self.start, self.end)


class ExportOut(BaseModel):
    manifests: list[Manifest]
    problems: list[str] = Field(description="what verifying the written files found (empty: verified)")


def may_export(principal: Principal, tenant_id: str) -> bool:
    """A platform admin exports their own tenant; a service identity the tenant its token names."""
    return principal.can_see_tenant(tenant_id)
