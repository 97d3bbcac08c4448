"""Tables and input schemas of staff, health certificates and training."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Boolean, Column, Date, Float, ForeignKey, Integer, String, Table, Text

from bk_ledger.common.columns import Json, record_columns
from bk_ledger.common.errors import fields_invalid
from bk_ledger.db import metadata
from bkcore.inputs import Day

staff_members = Table(
    "staff_members",
    metadata,
    *record_columns(),
    Column("name", String(100), nullable=False),
    Column("position", String(100), nullable=False),
    Column("active", Boolean, nullable=False),
)

health_certificates = Table(
    "health_certificates",
    metadata,
    *record_columns(),
    Column("staff_id", String(32), ForeignKey("staff_members.id"), nullable=False, index=True),
    Column("cert_no", String(64), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
)

courses = Table(
    "training_courses",
    metadata,
    *record_columns(),
    Column("title", String(200), nullable=False),
    Column("hours", Float, nullable=False),
    Column("pass_score", Integer, nullable=False),
    Column("certificate_valid_days", Integer, nullable=False),
)

questions = Table(
    "training_questions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("course_id", String(32), ForeignKey("training_courses.id"), nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("options", Json, nullable=False),
    Column("answer", Integer, nullable=False),
)

exam_results = Table(
    "training_exam_results",
    metadata,
    *record_columns(),
    Column("course_id", String(32), ForeignKey("training_courses.id"), nullable=False),
    Column("staff_id", String(32), ForeignKey("staff_members.id"), nullable=False, index=True),
    Column("score", Integer, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("certificate_no", String(64), nullable=True),
    Column("certificate_expires_on", Date, nullable=True),
)


class StaffIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    name: str = Field(..., min_length=1, max_length=100)
    position: str = Field(..., min_length=1, max_length=100, description="e.g. 厨师 cook")
    active: bool = True


class HealthCertificateIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    staff_id: str = Field(..., min_length=1, max_length=32)
    cert_no: str = Field(..., min_length=4, max_length=64)
    issued_on: Day
    expires_on: Day

    @model_validator(mode="after")
    def _dates(self) -> HealthCertificateIn:
        if self.expires_on <= self.issued_on:
            raise fields_invalid("HealthCertificateIn", [("expires_on", "must be after issued_on")])
        if (self.expires_on - self.issued_on).days > 366 * 2:
            raise fields_invalid(
                "HealthCertificateIn", [("expires_on", "a health certificate is valid for at most two years")]
            )
        return self


class QuestionIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=2000)
    options: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        ..., min_length=2, max_length=8
    )
    answer: int = Field(..., ge=0, le=7, description="index into options")

    @model_validator(mode="after")
    def _answer(self) -> QuestionIn:
        if self.answer >= len(self.options):
            raise fields_invalid("QuestionIn", [("answer", "must index one of the options")])
        return self


class CourseIn(BaseModel):
    site_id: str = Field(..., min_length=1, max_length=64)
    title: str = Field(..., min_length=1, max_length=200)
    hours: float = Field(..., gt=0, le=200)
    pass_score: int = Field(60, ge=1, le=100, description="percent needed to pass")
    certificate_valid_days: int = Field(365, ge=1, le=3650)
    questions: list[QuestionIn] = Field(..., min_length=1, max_length=200)


class ExamIn(BaseModel):
    staff_id: str = Field(..., min_length=1, max_length=32)
    answers: dict[Annotated[str, Field(max_length=32)], Annotated[int, Field(ge=0, le=7)]] = Field(
        ..., min_length=1, max_length=200, description="question id → chosen option index"
    )
