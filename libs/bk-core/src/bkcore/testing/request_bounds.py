"""Mechanical checks that every input of an app is bounded (used by each service's tests).

- every string a request body carries has a ``max_length``, and one no longer than the ``String(n)``
  column of the same name in the service's tables (a longer one was a 500 on PostgreSQL);
- every number in a query, a path or a body has a lower and an upper bound;
- every date and datetime in a query or a body is a ``bkcore.inputs.Instant`` / ``Day`` (the
  calendar window), never a bare ``datetime`` that overflows near years 1 and 9999.

Each function returns the offending places as readable strings; a test asserts the list is empty,
so its failure message is the list of what to fix.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import pydantic
from annotated_types import Ge, Gt, Le, Lt, MaxLen
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy import MetaData, String

from bkcore.inputs import check_year

#: (where, field name, the bare type, the constraints that apply to it, the model it belongs to)
Place = tuple[str, str, Any, list[Any], type[BaseModel] | None]
#: table -> column -> its String(n) length (None: not a bounded string)
Tables = dict[str, dict[str, int | None]]


def column_lengths(metadata: MetaData) -> Tables:
    """Every table's columns, with the ``String(n)`` length of those that have one."""
    return {
        t.name: {c.name: c.type.length if isinstance(c.type, String) else None for c in t.columns}
        for t in metadata.tables.values()
    }


def _columns_for(fields: set[str], tables: Tables) -> dict[str, int]:
    """The string lengths of the table a model writes: the one sharing most column names with it
    (the shortest of each when several tie); for a lone form field, the shortest of that name."""
    best = max((len(fields & cols.keys()) for cols in tables.values()), default=0)
    out: dict[str, int] = {}
    if best == 0:
        return out
    for cols in tables.values():
        if len(fields & cols.keys()) == best:
            for name, length in cols.items():
                if length is not None:
                    out[name] = min(length, out.get(name, length))
    return out


def _leaves(
    annotation: Any, meta: tuple[Any, ...] = (), *, nested: bool = False
) -> list[tuple[Any, list[Any], bool]]:
    """The concrete types an annotation can hold, each with the ``Annotated`` constraints on it and
    whether it sits inside a container (``list[X]``: the field's own max_length counts items)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        flat = [x for m in extra for x in (m.metadata if isinstance(m, FieldInfo) else [m])]
        return _leaves(inner, (*meta, *flat), nested=nested)
    if origin in (typing.Union, types.UnionType):
        return [
            x
            for a in typing.get_args(annotation)
            if a is not type(None)
            for x in _leaves(a, meta, nested=nested)
        ]
    if origin in (list, set, frozenset, tuple):
        return [x for a in typing.get_args(annotation) if a is not Ellipsis for x in _leaves(a, nested=True)]
    if origin is dict:
        return [x for a in typing.get_args(annotation)[1:] for x in _leaves(a, nested=True)]
    if origin is typing.Literal:
        return []  # a fixed set of values is bounded
    return [(annotation, list(meta), nested)]


def _bare(annotation: Any) -> list[Any]:
    return [t for t, _, _ in _leaves(annotation)]


def _place(where: str, name: str, info: FieldInfo, owner: type[BaseModel] | None) -> Iterator[Place]:
    for t, meta, nested in _leaves(info.annotation):
        yield where, name, t, meta + ([] if nested else list(info.metadata)), owner


def _models(annotation: Any, seen: set[type]) -> Iterator[type[BaseModel]]:
    for t in _bare(annotation):
        if isinstance(t, type) and issubclass(t, BaseModel) and t not in seen:
            seen.add(t)
            yield t
            for f in t.model_fields.values():
                yield from _models(f.annotation, seen)


def body_fields(app: FastAPI, extra: Sequence[type[BaseModel]] = ()) -> Iterator[Place]:
    """Every field of every request body model (nested ones included), every form field, and the
    fields of ``extra`` models (those a route parses itself, e.g. a JSON ``payload`` form field)."""
    seen: set[type] = set()
    for where, route in _routes(app):
        for param in route.dependant.body_params:
            for model in _models(param.field_info.annotation, seen):
                for name, f in model.model_fields.items():
                    yield from _place(f"{model.__name__} ({where})", name, f, model)
            if not list(_models(param.field_info.annotation, set())):
                yield from _place(f"{where} body", param.name, param.field_info, None)
    for root in extra:
        for model in _models(root, seen):
            for name, f in model.model_fields.items():
                yield from _place(f"{model.__name__} (parsed by its route)", name, f, model)


def _routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API route, through included routers, with "METHODS /full/path" naming it."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield f"{','.join(sorted(route.methods))} {context.path or route.path}", route


def _params(app: FastAPI) -> Iterator[Place]:
    for where, route in _routes(app):
        stack = [route.dependant]
        while stack:
            d = stack.pop()
            stack.extend(d.dependencies)
            for param in (*d.query_params, *d.path_params):
                kind = "path" if param in d.path_params else "query"
                yield from _place(f"{where} {kind}", param.name, param.field_info, None)


def _has(meta: list[Any], *kinds: type) -> bool:
    return any(isinstance(m, kinds) for m in meta) or any(
        getattr(m, attr, None) is not None
        for m in meta
        for attr, kind in (("ge", Ge), ("gt", Gt), ("le", Le), ("lt", Lt))
        if kind in kinds and not isinstance(m, (Ge, Gt, Le, Lt))
    )


def _max_length(meta: list[Any]) -> int | None:
    for m in meta:
        value = m.max_length if isinstance(m, MaxLen) else getattr(m, "max_length", None)
        if isinstance(value, int):
            return value
    return None


def unbounded_strings(
    app: FastAPI, tables: Tables, extra: Sequence[type[BaseModel]] = (), unrelated: Mapping[str, str] = {}
) -> list[str]:
    """Body strings without a max_length, or with one longer than their column. ``unrelated`` names
    ``"Model.field"`` that share a column's name but never reach it, each with the reason; they
    still need a max_length."""
    out = []
    for where, name, t, meta, owner in body_fields(app, extra):
        if t is not str:
            continue
        fields = set(owner.model_fields) if owner is not None else {name}
        column = _columns_for(fields, tables).get(name)
        if owner is not None and f"{owner.__name__}.{name}" in unrelated:
            column = None
        limit = _max_length(meta)
        if limit is None:
            out.append(
                f"{where}: {name} has no max_length" + (f" (column String({column}))" if column else "")
            )
        elif column is not None and limit > column:
            out.append(f"{where}: {name} max_length {limit} > column String({column})")
    return out


def unbounded_numbers(app: FastAPI, extra: Sequence[type[BaseModel]] = ()) -> list[str]:
    """Numbers (query, path, body) without both a lower and an upper bound."""
    out = []
    for where, name, t, meta, _ in (*_params(app), *body_fields(app, extra)):
        if t in (int, float) and not (_has(meta, Ge, Gt) and _has(meta, Le, Lt)):
            out.append(f"{where}: {name} ({t.__name__}) is not bounded on both sides")
    return out


#: pydantic's own calendar types: at run time classes of their own, not datetime subclasses
_PYDANTIC_CALENDAR = frozenset(
    getattr(pydantic, n)
    for n in ("AwareDatetime", "NaiveDatetime", "PastDatetime", "FutureDatetime", "PastDate", "FutureDate")
)


def _is_calendar(t: Any) -> bool:
    return t in _PYDANTIC_CALENDAR or (isinstance(t, type) and issubclass(t, date))


def unchecked_calendar(app: FastAPI, extra: Sequence[type[BaseModel]] = ()) -> list[str]:
    """Dates and datetimes (query, path, body) that are not ``Instant`` / ``Day``."""
    out = []
    for where, name, t, meta, _ in (*_params(app), *body_fields(app, extra)):
        if _is_calendar(t) and not any(isinstance(m, AfterValidator) and m.func is check_year for m in meta):
            out.append(f"{where}: {name} ({t.__name__}) is not bkcore.inputs.Instant/Day")
    return out
