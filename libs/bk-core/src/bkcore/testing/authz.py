"""The authorisation matrix: every route of an app × every kind of caller × where the target lies.

Each service's ``tests/test_authz_matrix.py`` writes one table (a ``Route`` per route) and calls
two functions:

- ``missing_routes(app, table)``: the routes of the app with no entry (and entries naming no
  route). A new route fails the test until someone says who may call it. Only the routes in
  ``PUBLIC_OPS`` (health, readiness, metrics, the OpenAPI documents) are exempt, by name.
- ``run_matrix(client, table, callers)``: calls each route as each caller against a target in
  each place (``Where``): the caller's own site, another site in the same org subtree, a site in
  another subtree, a site of another tenant. It returns what went wrong, one line each.

What an entry says, and what is then asserted:

- ``allow``: the callers the route admits by role. Each gets an answer in ``ok`` (2xx unless the
  route names more) for a target in its scope, and the route's ``hidden`` status (404: the
  service does not say that the thing exists) for one outside it — never a success.
- every other authenticated caller is refused by role (403 or 404), with the same status for every
  target, so the refusal says nothing about what exists;
- a caller without a valid token for this service (anonymous, or a token for another audience):
  401, unless the route is ``public``;
- a list (``listed``): the targets its answer names; never one outside the caller's scope, and
  (``complete``) every one inside it, so the check cannot pass on an empty list.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from bkcore.auth import PUBLIC_API, Principal, Role, TokenIssuer, default_audience
from bkcore.service_tokens import SERVICE_IDENTITIES, TokenRequest, grant

#: Routes meant to be open to anyone (and kept off the ingress): the only ones a table may omit.
PUBLIC_OPS = frozenset(
    {
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /docs",
        "GET /docs/oauth2-redirect",
        "GET /redoc",
    }
)


class Where(StrEnum):
    """Where a target lies, seen from the home site (the one the site roles work at)."""

    OWN = "own site"
    SIBLING = "other site, same subtree"
    OTHER_SUBTREE = "other org subtree"
    OTHER_TENANT = "other tenant"


WHERES = tuple(Where)
ANYWHERE = frozenset(Where)


@dataclass(frozen=True)
class Caller:
    """One kind of caller: a token (none: anonymous) and the places inside its scope.

    ``authenticated``: False for a caller this service must not accept at all (no token, or a
    token for another service's audience), which gets 401 on every non-public route.
    """

    name: str
    headers: Mapping[str, str]
    sees: frozenset[Where] = frozenset()
    authenticated: bool = True


@dataclass(frozen=True)
class Call:
    """One concrete request: a path and what ``httpx`` sends with it (json, params, files, data)."""

    path: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


Builder = Callable[[Where], Call | Awaitable[Call]]
Listed = Callable[[httpx.Response], Iterable[Where]]
OK = frozenset(range(200, 300))


@dataclass(frozen=True)
class Route:
    """A route's row in the matrix. ``route``: ``"METHOD /path/{template}"`` as the app declares it.

    ``target``: builds the request for a target in a place (None: the route names no target, e.g.
    a list or the caller's own profile); headers it sets join the caller's. ``listed``: the places
    a successful answer names (from the response: JSON, CSV, ...).
    ``hidden``: how an out-of-scope target is refused (a status, or the statuses a row documents);
    None when the route filters instead (a list with ``?site_id=``: 200 without the target).
    ``ok``: statuses that mean "authorised" (a state transition may answer 409 to a caller who may
    make it, just not now). ``public``: no token needed; then ``allow`` names the anonymous caller.
    """

    route: str
    allow: frozenset[str]
    target: Builder | None = None
    listed: Listed | None = None
    hidden: int | frozenset[int] | None = 404
    ok: frozenset[int] = OK
    public: bool = False
    complete: bool = True
    scoped: bool = True  # False: the target's place does not matter (e.g. one public page per site)
    refusal: frozenset[int] = frozenset({403, 404})  # how a role the route does not admit is refused
    prepare: Callable[[], Awaitable[None]] | None = None  # before each call (e.g. a shadow to stop)
    send: Mapping[str, Any] = field(default_factory=dict)  # what a call without a target sends
    #: this row's scope for some callers, where it is not what they see elsewhere (e.g. a parent may
    #: bind to any site of their tenant whose invite code they hold)
    scope: Mapping[str, frozenset[Where]] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]


def app_routes(app: FastAPI) -> set[str]:
    """Every route of ``app`` as ``"METHOD /path"`` (HEAD beside GET dropped; a mount as ``MOUNT``)."""
    out: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or getattr(route, "path", "")
        if isinstance(route, Mount):
            out.add(f"MOUNT {path}")
            continue
        methods = set(context.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        out.update(f"{m} {path}" for m in methods)
    return out


def missing_routes(app: FastAPI, table: Iterable[Route], public: Collection[str] = PUBLIC_OPS) -> list[str]:
    """Routes of ``app`` without a row (and rows naming no route): an empty list when complete."""
    rows = [r.route for r in table]
    routes = app_routes(app) - set(public)
    out = [f"{r}: no row in the authorisation matrix (who may call it?)" for r in sorted(routes - set(rows))]
    out += [f"{r}: a row for a route the app does not have" for r in sorted(set(rows) - app_routes(app))]
    out += [f"{r}: more than one row" for r in sorted({r for r in rows if rows.count(r) > 1})]
    return out


async def _build(route: Route, where: Where) -> Call:
    assert route.target is not None
    call = route.target(where)
    return await call if inspect.isawaitable(call) else call  # type: ignore[return-value]


def _excerpt(r: httpx.Response) -> str:
    return r.text[:160].replace("\n", " ")


def _places(route: Route, r: httpx.Response) -> set[Where] | str:
    assert route.listed is not None
    try:
        return set(route.listed(r))
    except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return f"could not read the places out of the answer ({exc!r})"


async def run_matrix(
    client: httpx.AsyncClient, table: Iterable[Route], callers: Iterable[Caller]
) -> list[str]:
    """Call every route as every caller against every place; what went wrong, one line each."""
    failures: list[str] = []
    callers = list(callers)
    for route in table:
        for caller in callers:
            failures += await _run_one(client, route, caller)
    return failures


async def _run_one(client: httpx.AsyncClient, route: Route, caller: Caller) -> list[str]:
    if caller.name in route.scope:
        caller = replace(caller, sees=route.scope[caller.name])
    out: list[str] = []
    wheres: tuple[Where | None, ...] = WHERES if route.target is not None else (None,)
    refusals: dict[Where | None, int] = {}
    for where in wheres:
        if route.prepare is not None:
            await route.prepare()
        call = (
            await _build(route, where)
            if where is not None
            else Call(route.route.split(" ", 1)[1], route.send)
        )
        kwargs = dict(call.kwargs)
        headers = {**caller.headers, **kwargs.pop("headers", {})}
        r = await client.request(route.method, call.path, headers=headers, **kwargs)
        at = f"{caller.name:>12} {route.route}" + (f" @ {where.value}" if where else "")
        got = f"got {r.status_code} {_excerpt(r)}"
        if r.status_code >= 500:
            out.append(f"{at}: a server error ({got})")
            continue
        if not route.public and not caller.authenticated:
            if r.status_code != 401:
                out.append(f"{at}: expected 401, {got}")
            continue
        if caller.name not in route.allow:
            if r.status_code not in route.refusal:
                out.append(f"{at}: expected a refusal by role {sorted(route.refusal)}, {got}")
            refusals[where] = r.status_code
            continue
        in_scope = where is None or not route.scoped or where in caller.sees
        if in_scope:
            if r.status_code not in route.ok:
                out.append(f"{at}: in scope, expected {sorted(route.ok)[:3]}…, {got}")
                continue
            if route.listed is not None and r.status_code < 300:
                out += _check_list(at, route, caller, r, where)
            continue
        if r.status_code < 300 and route.hidden is not None:
            out.append(f"{at}: OUT OF SCOPE AND IT SUCCEEDED ({got})")
        elif route.hidden is None:
            if r.status_code not in route.ok:
                out.append(f"{at}: out of scope, expected an answer without it, {got}")
            elif route.listed is not None:
                out += _check_list(at, route, caller, r, where)
        elif r.status_code not in _statuses(route.hidden):
            out.append(f"{at}: out of scope, expected {route.hidden} (it hides what exists), {got}")
    # Out of scope, a refusal must not depend on what exists there (in scope, a 403 says nothing new).
    refusals = {w: status for w, status in refusals.items() if w is None or w not in caller.sees}
    if len(set(refusals.values())) > 1:
        out.append(f"{caller.name:>12} {route.route}: the refusal differs by place {refusals} (an oracle)")
    return out


def _statuses(hidden: int | frozenset[int]) -> frozenset[int]:
    return frozenset({hidden}) if isinstance(hidden, int) else hidden


def _check_list(at: str, route: Route, caller: Caller, r: httpx.Response, where: Where | None) -> list[str]:
    """Never a place outside the caller's scope; every place asked for inside it (``complete``)."""
    places = _places(route, r)
    if isinstance(places, str):
        return [f"{at}: {places}"]
    leaked = places - caller.sees if route.scoped else set()
    out = [f"{at}: LEAKS {sorted(p.value for p in leaked)}"] if leaked else []
    asked = {where} if where is not None else ANYWHERE
    expected = asked & caller.sees if route.scoped else asked
    if route.complete and (lost := expected - places):
        out.append(f"{at}: in scope but not listed: {sorted(p.value for p in lost)}")
    return out


def allow(*names: str | Iterable[str]) -> frozenset[str]:
    """The callers a row admits: names, or groups of names (``SUPERVISING``)."""
    return frozenset(n for x in names for n in ([x] if isinstance(x, str) else x))


@dataclass(frozen=True)
class Place:
    """A seeded site: its tenant, id and the path of the org unit it belongs to."""

    tenant_id: str
    site_id: str
    org_path: str


@dataclass(frozen=True)
class Places:
    """The four sites a matrix runs against. ``district``: the org unit holding ``own`` and
    ``sibling`` (not ``other_subtree``), the district supervisor's root."""

    own: Place
    sibling: Place
    other_subtree: Place
    other_tenant: Place
    district: str

    def __getitem__(self, where: Where) -> Place:
        return {
            Where.OWN: self.own,
            Where.SIBLING: self.sibling,
            Where.OTHER_SUBTREE: self.other_subtree,
            Where.OTHER_TENANT: self.other_tenant,
        }[where]

    def site(self, where: Where) -> str:
        return self[where].site_id

    def of_sites(self, site_ids: Iterable[str]) -> set[Where]:
        """The places among ``site_ids`` (sites that are none of the four are ignored)."""
        by_site = {(p.site_id): w for w in WHERES for p in [self[w]]}
        return {by_site[s] for s in site_ids if s in by_site}


#: The four places every service's matrix seeds: the demo city's school canteen (own), a second
#: canteen under the same township, a restaurant in another district, and a second tenant's school.
DEMO_PLACES = Places(
    own=Place("minghu", "lakeside-primary", "/minghu/lakeside/north"),
    sibling=Place("minghu", "lakeside-middle", "/minghu/lakeside/north"),
    other_subtree=Place("minghu", "hillview-noodle", "/minghu/hillview"),
    other_tenant=Place("riverton", "river-school", "/riverton"),
    district="/minghu/lakeside",
)

# The kinds of caller every matrix has (names used in the tables).
ADMIN = "admin"  # platform admin of the home tenant
CITY = "city"  # bureau supervisor at the tenant's root
DISTRICT = "district"  # supervisor of the district holding own + sibling
EDU = "edu"  # education-bureau user over the same district (a supervisor, department education)
MANAGER = "site-manager"  # of the own site
STAFF = "site-staff"  # of the own site
SERVICE = "service"  # the public-api's service identity in the home tenant (its real scopes)
PARENT = "parent"  # a parent of the home tenant (public-api only; bound to the own site there)
OTHER_ADMIN = "other-admin"  # platform admin of the other tenant
ANONYMOUS = "anonymous"
ADMINS = frozenset({ADMIN, OTHER_ADMIN})
SUPERVISING = ADMINS | {CITY, DISTRICT, EDU}
SITE_ROLES = frozenset({MANAGER, STAFF})
STAFF_ROLES = SUPERVISING | SITE_ROLES


def standard_callers(issuer: TokenIssuer, places: Places, *, audience: str) -> list[Caller]:
    """Every kind of caller, with tokens from ``issuer`` as the issuer makes them for people (every
    staff service's audience; the parent's: the public-api's) and for the public-api's identity.
    Only the tokens that name ``audience`` are ``authenticated`` here. The public-api's parent is
    bound server-side: its suite replaces the ``parent`` caller's ``sees`` after binding."""
    own, tenant = places.own, places.own.tenant_id
    city = "/" + own.org_path.strip("/").split("/")[0]

    def person(name: str, role: Role, sees: set[Where], **kw: Any) -> Caller:
        p = Principal(subject=f"u-{name}", tenant_id=kw.pop("tenant", tenant), role=role, name=name, **kw)
        ok = audience in default_audience(p)
        return Caller(name, {"Authorization": f"Bearer {issuer.issue(p)}"}, frozenset(sees), ok)

    public_api = SERVICE_IDENTITIES[PUBLIC_API]
    service_token = grant(issuer, public_api, TokenRequest(tenant_id=tenant)).access_token
    subtree = {Where.OWN, Where.SIBLING}
    return [
        person(ADMIN, Role.PLATFORM_ADMIN, subtree | {Where.OTHER_SUBTREE}),
        person(CITY, Role.SUPERVISOR, subtree | {Where.OTHER_SUBTREE}, org_path=city),
        person(DISTRICT, Role.SUPERVISOR, subtree, org_path=places.district),
        person(EDU, Role.SUPERVISOR, subtree, org_path=places.district),
        person(MANAGER, Role.SITE_MANAGER, {Where.OWN}, site_ids=frozenset({own.site_id})),
        person(STAFF, Role.STAFF, {Where.OWN}, site_ids=frozenset({own.site_id})),
        Caller(
            SERVICE,
            {"Authorization": f"Bearer {service_token}"},
            frozenset(subtree | {Where.OTHER_SUBTREE}),
            audience in public_api.audience,
        ),
        person(PARENT, Role.PARENT, set()),
        person(OTHER_ADMIN, Role.PLATFORM_ADMIN, {Where.OTHER_TENANT}, tenant=places.other_tenant.tenant_id),
        Caller(ANONYMOUS, {}, frozenset(), authenticated=False),
    ]


__all__ = [
    "ADMIN",
    "ADMINS",
    "ANONYMOUS",
    "ANYWHERE",
    "CITY",
    "DEMO_PLACES",
    "DISTRICT",
    "EDU",
    "MANAGER",
    "OTHER_ADMIN",
    "PARENT",
    "PUBLIC_OPS",
    "SERVICE",
    "SITE_ROLES",
    "STAFF",
    "STAFF_ROLES",
    "SUPERVISING",
    "WHERES",
    "Call",
    "Caller",
    "Place",
    "Places",
    "Route",
    "Where",
    "allow",
    "app_routes",
    "missing_routes",
    "run_matrix",
    "standard_callers",
]
