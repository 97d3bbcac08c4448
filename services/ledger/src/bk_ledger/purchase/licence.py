"""The supplier's identity in a tenant: its 统一社会信用代码 (unified social credit code, GB 32100-2015).

The code on the business licence (营业执照) names one legal entity nationwide, so the same supplier
registered by three canteens is one supplier of the tenant, and a recall of it reaches all three.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

#: The 31 characters a code may use (no I, O, S, V, Z), in the order that gives each its value.
CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18


def normalise(code: str) -> str:
    """Upper case without spaces: how a code typed from a photo of the licence is compared."""
    return "".join(code.split()).upper()


def check_char(first17: str) -> str:
    total = sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def problem(code: str) -> str | None:
    """Why ``code`` (already normalised) is not a unified social credit code; None when it is."""
    if len(code) != LENGTH:
        return f"统一社会信用代码应为 {LENGTH} 位 must be {LENGTH} characters, got {len(code)}"
    bad = sorted({c for c in code if c not in CHARSET})
    if bad:
        return f"统一社会信用代码含非法字符 invalid characters: {''.join(bad)} (no I, O, S, V, Z)"
    if not code[2:8].isdigit():
        return "统一社会信用代码第 3–8 位应为行政区划码 characters 3-8 must be the region code (digits)"
    if check_char(code[:17]) != code[17]:
        return "统一社会信用代码校验位错误 the check character does not match"
    return None


def checked(value: str) -> str:
    """The normalised code, or a ValueError saying what is wrong with it (for pydantic)."""
    code = normalise(value)
    if (why := problem(code)) is not None:
        raise ValueError(why)
    return code


#: An input field holding a supplier's unified social credit code, normalised and checked.
CreditCode = Annotated[
    str,
    Field(min_length=1, max_length=64, description="统一社会信用代码 (18 characters, GB 32100)"),
    AfterValidator(checked),
]
