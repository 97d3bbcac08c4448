"""Login: check a password, turn the user row into a ``Principal``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bk_cases.directory import service as directory
from bk_cases.directory.models import User
from bk_cases.directory.rules import verify_password
from bkcore.auth import Principal, Role

# Verifying against a dummy hash when the user is unknown keeps login time the same either way,
# so response timing does not reveal which usernames exist.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def principal_of(user: User) -> Principal:
    return Principal(
        subject=user.id,
        tenant_id=user.tenant_id,
        role=Role(user.role),
        org_path=user.org_path or "/",
        site_ids=frozenset(user.site_ids or ()),
        name=user.name,
    )


async def authenticate(
    *, db_session: AsyncSession, username: str, password: str, tenant_id: str | None = None
) -> User | None:
    """The user when the password matches; None otherwise (also when the username is ambiguous)."""
    users = await directory.get_user_by_username(
        db_session=db_session, username=username, tenant_id=tenant_id
    )
    user = users[0] if len(users) == 1 else None
    ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    return user if ok and user is not None and user.active else None  # deactivated (停用): refused
