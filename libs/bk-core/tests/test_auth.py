"""Tokens (Ed25519, one issuer, audiences, key rotation), the role/scope gate, the FastAPI
dependencies, and the scoping matrix against a real SQLite table.

The forged-token tests are written as the attack: the token an attacker would send, and the
refusal it must get.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import Column, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bkcore.auth import (
    CASE_MANAGER,
    PARENT_AUDIENCE,
    PUBLIC_API,
    STAFF_AUDIENCE,
    STREAM_GATEWAY,
    AuthError,
    Principal,
    Role,
    Scope,
    TokenIssuer,
    TokenVerifier,
    access_refusal,
    in_subtree,
    is_operator,
    operator_refusal,
)
from bkcore.auth_http import Authenticator, ensure_site_visible, scope_to_principal
from bkcore.keys import generate_private_key
from bkcore.testing.tokens import new_token_issuer, service_principal

SUP = Principal("u-sup", "t1", Role.SUPERVISOR, org_path="/sz/nanshan", name="Li")
#: The HS256 secret every service used to share (the shape of the test secrets of the time).
OLD_SHARED_SECRET = "jwt-test-secret-0123456789abcdef"


@pytest.fixture
def issuer() -> TokenIssuer:
    return new_token_issuer()


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": "x",
        "tid": "t1",
        "role": "platform_admin",
        "org": "/",
        "iss": "bright-kitchen",
        "aud": list(STAFF_AUDIENCE),
        "iat": now,
        "exp": now + 600,
        **over,
    }


# -- tokens ---------------------------------------------------------------------------------------


def test_token_roundtrip(issuer: TokenIssuer) -> None:
    staff = Principal("u-1", "t1", Role.SITE_MANAGER, site_ids=frozenset({"s1", "s2"}), name="Wang")
    for p in (SUP, staff):
        assert issuer.verify(issuer.issue(p), audience=CASE_MANAGER) == p
    svc = service_principal("public-api", "t1", Scope.SITES_READ, Scope.CAMERAS_READ)
    token = issuer.issue(svc, audience=(CASE_MANAGER, STREAM_GATEWAY))
    assert issuer.verify(token, audience=STREAM_GATEWAY) == svc
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == issuer.kid


def test_audiences_by_role(issuer: TokenIssuer) -> None:
    parent = issuer.issue(Principal("p-1", "t1", Role.PARENT))
    assert jwt.decode(parent, options={"verify_signature": False})["aud"] == list(PARENT_AUDIENCE)
    assert issuer.verify(parent, audience=PUBLIC_API).role == Role.PARENT
    for other in (CASE_MANAGER, STREAM_GATEWAY):  # a parent's session is for the public edge alone
        with pytest.raises(AuthError, match="not for"):
            issuer.verify(parent, audience=other)
    with pytest.raises(ValueError, match="audience"):  # a service token always names its audience
        issuer.issue(service_principal("x", "t1", Scope.CASES_READ))


def test_expired_token(issuer: TokenIssuer) -> None:
    token = issuer.issue(SUP, ttl_s=60, now=time.time() - 61)
    with pytest.raises(AuthError, match="expired"):
        issuer.verify(token, audience=CASE_MANAGER)


def test_verifier_holds_no_signing_key(issuer: TokenIssuer) -> None:
    """What every service but the issuer holds: it checks tokens and has nothing to sign with."""
    verifier = TokenVerifier([issuer.public_key])
    assert verifier.verify(issuer.issue(SUP), audience=STREAM_GATEWAY) == SUP
    assert not hasattr(verifier, "issue")


def test_attack_a_key_of_ones_own_is_not_the_issuers(issuer: TokenIssuer) -> None:
    """The public-api's process makes a key pair and signs a platform admin: refused by name."""
    verifier = TokenVerifier([issuer.public_key])
    forged = TokenIssuer(generate_private_key()).issue(Principal("evil", "t1", Role.PLATFORM_ADMIN))
    with pytest.raises(AuthError, match="unknown key"):
        verifier.verify(forged, audience=CASE_MANAGER)
    # ... nor by claiming the issuer's kid in the header
    head = {"kid": issuer.kid}
    stolen_kid = jwt.encode(_claims(), generate_private_key(), algorithm="EdDSA", headers=head)
    with pytest.raises(AuthError):
        verifier.verify(stolen_kid, audience=CASE_MANAGER)


def test_attack_hs256_with_the_old_shared_secret_is_refused(issuer: TokenIssuer) -> None:
    verifier = TokenVerifier([issuer.public_key])
    for key in (OLD_SHARED_SECRET, "x" * 32):
        token = jwt.encode(_claims(), key, algorithm="HS256", headers={"kid": issuer.kid})
        with pytest.raises(AuthError, match="'HS256' is not accepted"):
            verifier.verify(token, audience=CASE_MANAGER)


def test_attack_alg_none_is_refused(issuer: TokenIssuer) -> None:
    unsigned = jwt.encode(_claims(), None, algorithm="none", headers={"kid": issuer.kid})
    with pytest.raises(AuthError, match="'none' is not accepted"):
        issuer.verify(unsigned, audience=CASE_MANAGER)
    # The same with an empty signature after a header that says EdDSA.
    head, payload, _ = issuer.issue(SUP).split(".")
    with pytest.raises(AuthError):
        issuer.verify(f"{head}.{payload}.", audience=CASE_MANAGER)


def test_tampering_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue(SUP)
    # Widen the scope in the payload and keep the old signature: must be refused.
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(org="/", role="platform_admin")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    # One bit of the signature flipped (in its bytes: re-spelling the last base64 characters can
    # leave the bytes unchanged, which made this check pass or fail by chance).
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 0x01
    flipped = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for bad in (f"{head}.{forged}.{sig}", f"{head}.{payload}.{flipped}", "not-a-jwt", ""):
        with pytest.raises(AuthError):
            issuer.verify(bad, audience=CASE_MANAGER)
    with pytest.raises(AuthError):  # another issuer name, same key
        TokenIssuer(generate_private_key(), issuer="someone-else").verify(token, audience=CASE_MANAGER)


def test_token_with_bad_claims_refused(issuer: TokenIssuer) -> None:
    key = issuer._private_key
    base = _claims()
    del base["role"]
    no_aud = _claims()
    del no_aud["aud"]
    for claims in (
        {**base, "role": "god"},
        base,
        {**base, "role": "supervisor", "org": ""},
        {**base, "role": "supervisor", "org": None},
        no_aud,
    ):
        token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": issuer.kid})
        with pytest.raises(AuthError):
            issuer.verify(token, audience=CASE_MANAGER)


def test_rotation_accepts_old_and_new_by_kid() -> None:
    """During a rotation verifiers hold both public keys; the token's kid picks one."""
    old, new = new_token_issuer(), new_token_issuer()
    verifier = TokenVerifier([old.public_key, new.public_key])
    assert verifier.key_ids == {old.kid, new.kid}
    for signer in (old, new):
        assert verifier.verify(signer.issue(SUP), audience=CASE_MANAGER) == SUP
    # The new issuer keeps accepting sessions signed by the old key until they expire ...
    rotating = TokenIssuer(new._private_key, accept=[old.public_key])
    assert rotating.verify(old.issue(SUP), audience=CASE_MANAGER) == SUP
    # ... and once the old key is dropped, its tokens are refused.
    with pytest.raises(AuthError, match="unknown key"):
        TokenVerifier([new.public_key]).verify(old.issue(SUP), audience=CASE_MANAGER)


def test_relative_org_path_refused() -> None:
    with pytest.raises(ValueError):
        Principal("u", "t1", Role.SUPERVISOR, org_path="")
    with pytest.raises(TypeError):
        TokenIssuer("x" * 32)  # type: ignore[arg-type]  # a shared secret is not a signing key


def test_in_subtree() -> None:
    assert in_subtree("/a/b", "/a/b") and in_subtree("/a/b/c", "/a/b") and in_subtree("/a/b/c", "/a/b/")
    assert in_subtree("/x", "/")
    assert not in_subtree("/a/bc", "/a/b") and not in_subtree("/a", "/a/b")


# -- the one role/scope check (pure) ---------------------------------------------------------------


def test_access_refusal() -> None:
    readers = (Role.PLATFORM_ADMIN, Role.SERVICE)
    reader = service_principal("public-api", "t1", Scope.CAMERAS_READ)
    assert access_refusal(reader, readers, Scope.CAMERAS_READ) is None
    assert "lacks the scope 'cameras:write'" in (access_refusal(reader, readers, Scope.CAMERAS_WRITE) or "")
    assert access_refusal(reader, readers) is not None  # a route naming no scope admits no service
    assert access_refusal(SUP, readers) == "role 'supervisor' may not do this"
    assert access_refusal(Principal("a", "t1", Role.PLATFORM_ADMIN), readers, Scope.CAMERAS_WRITE) is None


@pytest.mark.unit
def test_only_the_operator_administers_what_every_tenant_shares() -> None:
    """The detector's models serve every tenant: another tenant's platform admin may not switch them."""
    ops_admin, other_admin = (
        Principal("a", "op", Role.PLATFORM_ADMIN),
        Principal("b", "t1", Role.PLATFORM_ADMIN),
    )
    models = Scope.MODELS_ADMIN
    assert operator_refusal(ops_admin, "op", models) is None
    assert "BK_OPERATOR_TENANT" in (operator_refusal(other_admin, "op", models) or "")
    assert "BK_OPERATOR_TENANT" in (operator_refusal(ops_admin, "", models) or "")  # none configured
    assert operator_refusal(service_principal("ops", "*", models), "", models) is None
    assert "lacks the scope" in (
        operator_refusal(service_principal("x", "*", Scope.SITES_READ), "op", models) or ""
    )
    assert (
        operator_refusal(Principal("s", "op", Role.SUPERVISOR), "op", models)
        == "role 'supervisor' may not do this"
    )
    assert is_operator(role="platform_admin", tenant_id="op", operator_tenant="op")
    assert not is_operator(role=Role.SUPERVISOR, tenant_id="op", operator_tenant="op")
    assert not is_operator(role=Role.PLATFORM_ADMIN, tenant_id="", operator_tenant="")


# -- FastAPI dependencies -------------------------------------------------------------------------


@pytest.fixture
async def client(issuer: TokenIssuer) -> AsyncIterator[httpx.AsyncClient]:
    auth = Authenticator(issuer, audience=CASE_MANAGER)
    stream = Authenticator(issuer, audience=CASE_MANAGER, query_token=True)
    app = FastAPI()

    @app.get("/me")
    async def me(p: Principal = Depends(auth)) -> dict[str, str]:
        return {"sub": p.subject, "tenant": p.tenant_id}

    @app.get("/stream")
    async def events(p: Principal = Depends(stream)) -> dict[str, str]:
        return {"sub": p.subject}

    @app.get("/review")
    async def review(
        p: Principal = Depends(auth.require_roles(Role.SUPERVISOR, Role.PLATFORM_ADMIN)),
    ) -> dict[str, str]:
        return {"sub": p.subject}

    @app.put("/cameras")
    async def write(
        p: Principal = Depends(
            auth.require_roles(Role.PLATFORM_ADMIN, Role.SERVICE, scope=Scope.CAMERAS_WRITE)
        ),
    ) -> dict[str, str]:
        return {"sub": p.subject}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_authenticator(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    resp = await client.get("/me", headers=_bearer(issuer.issue(SUP)))
    assert resp.status_code == 200 and resp.json() == {"sub": "u-sup", "tenant": "t1"}

    resp = await client.get("/me")
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in resp.headers["www-authenticate"]

    expired = issuer.issue(SUP, ttl_s=1, now=time.time() - 10)
    parents_only = issuer.issue(Principal("p", "t1", Role.PARENT))  # audience: public-api
    for headers in (
        _bearer("garbage"),
        _bearer(expired),
        {"Authorization": "Basic dTpw"},
        _bearer(new_token_issuer().issue(SUP)),
        _bearer(parents_only),
    ):
        resp = await client.get("/me", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_attack_token_in_the_query_string_is_refused(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    """Tokens in URLs end up in logs: refused on every route but the event stream, even next to a
    valid header, with a message that says where a token goes."""
    token = issuer.issue(SUP)
    for headers in ({}, _bearer(token)):
        resp = await client.get("/me", params={"access_token": token}, headers=headers)
        assert resp.status_code == 401
        assert "Authorization header" in resp.json()["detail"]
    stream = await client.get("/stream", params={"access_token": token})
    assert stream.status_code == 200 and stream.json() == {"sub": "u-sup"}
    assert (await client.get("/stream", params={"access_token": "forged"})).status_code == 401


async def test_require_roles(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    assert (await client.get("/review", headers=_bearer(issuer.issue(SUP)))).status_code == 200
    staff = Principal("u-2", "t1", Role.STAFF, site_ids=frozenset({"n1"}))
    assert (await client.get("/review", headers=_bearer(issuer.issue(staff)))).status_code == 403
    assert (await client.get("/review")).status_code == 401


async def test_attack_read_scoped_service_writes_cameras(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    reader = service_principal("public-api", "t1", Scope.CAMERAS_READ, Scope.SITES_READ)
    resp = await client.put("/cameras", headers=_bearer(issuer.issue(reader, audience=[CASE_MANAGER])))
    assert resp.status_code == 403 and "cameras:write" in resp.json()["detail"]
    writer = service_principal("ops-bot", "t1", Scope.CAMERAS_WRITE)
    assert (
        await client.put("/cameras", headers=_bearer(issuer.issue(writer, audience=[CASE_MANAGER])))
    ).status_code == 200


def test_a_route_open_to_services_must_name_a_scope(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="scope"):
        Authenticator(issuer, audience=CASE_MANAGER).require_roles(Role.SERVICE)


# -- scoping --------------------------------------------------------------------------------------
# (tenant, site_id, org_path). t2 reuses t1's site ids on purpose; the odd paths are traps for a
# naive prefix match, for LIKE wildcards, and for SQLite's case-insensitive LIKE.
ROWS = [
    ("t1", "hq", "/sz"),
    ("t1", "n1", "/sz/nanshan"),
    ("t1", "n2", "/sz/nanshan/xili"),
    ("t1", "bay", "/sz/nanshanbay"),
    ("t1", "upper", "/SZ/nanshan/up"),
    ("t1", "f1", "/sz/futian"),
    ("t1", "uscore", "/sz/nanXhan/z"),
    ("t1", "nh", "/sz/nan_han/z"),
    ("t1", "pct", "/sz/50%off/k"),
    ("t2", "hq", "/sz"),
    ("t2", "n1", "/sz/nanshan"),
    ("t2", "n2", "/sz/nanshan/xili"),
]
T1 = {f"t1:{s}" for t, s, _ in ROWS if t == "t1"}

metadata = MetaData()
cases = Table(
    "cases",
    metadata,
    Column("id", String, primary_key=True),
    Column("tenant_id", String),
    Column("site_id", String),
    Column("org_path", String),
    Column("status", String),
)

# (principal, parent's server-side bindings, rows that may come back — nothing else may)
MATRIX: list[tuple[Principal, set[str] | None, set[str]]] = [
    (Principal("a", "t1", Role.PLATFORM_ADMIN, org_path="/sz/futian"), None, T1),
    (Principal("a", "t2", Role.PLATFORM_ADMIN), None, {"t2:hq", "t2:n1", "t2:n2"}),
    (SUP, None, {"t1:n1", "t1:n2"}),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/sz/nanshan/"), None, {"t1:n1", "t1:n2"}),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/"), None, T1),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/sz/nan_han"), None, {"t1:nh"}),
    (Principal("s", "t1", Role.SUPERVISOR, org_path="/sz/50%"), None, set()),
    (Principal("s", "t3", Role.SUPERVISOR, org_path="/"), None, set()),
    (Principal("m", "t1", Role.SITE_MANAGER, site_ids=frozenset({"n1", "f1"})), None, {"t1:n1", "t1:f1"}),
    (Principal("m", "t1", Role.STAFF, site_ids=frozenset({"n2"})), None, {"t1:n2"}),
    (Principal("m", "t1", Role.STAFF), None, set()),
    # A parent's token site list is ignored; only the server-side bindings count.
    (Principal("p", "t1", Role.PARENT, site_ids=frozenset({"f1"})), {"n2"}, {"t1:n2"}),
    (Principal("p", "t1", Role.PARENT, site_ids=frozenset({"f1"})), None, set()),
    (Principal("p", "t1", Role.PARENT), set(), set()),
    (Principal("svc", "t1", Role.SERVICE), None, T1),
    (Principal("svc", "*", Role.SERVICE), None, {f"{t}:{s}" for t, s, _ in ROWS}),
]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'scope.db'}")
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(cases),
            [
                {"id": f"{t}:{s}", "tenant_id": t, "site_id": s, "org_path": p, "status": "open"}
                for t, s, p in ROWS
            ],
        )
    yield eng
    await eng.dispose()


def _scoped(stmt, p: Principal, bound: set[str] | None, **cols):  # type: ignore[no-untyped-def]
    cols = {
        "tenant_col": cases.c.tenant_id,
        "org_path_col": cases.c.org_path,
        "site_id_col": cases.c.site_id,
        **cols,
    }
    return scope_to_principal(stmt, p, bound_site_ids=bound, **cols)


MATRIX_IDS = [f"{p.role}-{p.tenant_id}-{p.org_path}-{i}" for i, (p, _, _) in enumerate(MATRIX)]


@pytest.mark.parametrize(("principal", "bound", "expected"), MATRIX, ids=MATRIX_IDS)
async def test_scoping_matrix(
    engine: AsyncEngine, principal: Principal, bound: set[str] | None, expected: set[str]
) -> None:
    async with engine.connect() as conn:
        got = set((await conn.execute(_scoped(select(cases.c.id), principal, bound))).scalars())
    assert got == expected

    # The SQL filter and the one-object check agree on every row.
    bound_fs = frozenset(bound) if bound is not None else None
    for tenant, site, path in ROWS:
        assert principal.can_see_site(tenant, site, path, bound_fs) == (f"{tenant}:{site}" in expected)
        if f"{tenant}:{site}" in expected:
            ensure_site_visible(principal, tenant, site, path, bound)
        else:
            with pytest.raises(HTTPException) as exc:
                ensure_site_visible(principal, tenant, site, path, bound)
            assert exc.value.status_code == 404


async def test_scoping_applies_to_updates(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(_scoped(update(cases).values(status="closed"), SUP, None))
        assert result.rowcount == 2
        closed = set((await conn.execute(select(cases.c.id).where(cases.c.status == "closed"))).scalars())
    assert closed == {"t1:n1", "t1:n2"}


async def test_unscopable_table_fails_closed(engine: AsyncEngine) -> None:
    staff = Principal("m", "t1", Role.STAFF, site_ids=frozenset({"n1"}))
    async with engine.connect() as conn:
        for p, cols in ((SUP, {"org_path_col": None}), (staff, {"site_id_col": None})):
            assert list(await conn.execute(_scoped(select(cases.c.id), p, None, **cols))) == []
