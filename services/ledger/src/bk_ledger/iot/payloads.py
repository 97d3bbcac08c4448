"""MQTT topics and payloads (pure): ``bk/<tenant>/<site>/<sensor>/reading``, JSON or the compact form.

A payload becomes the same items the HTTP route takes (``{"ts": …, "value": …}``), so each reading is
then checked by ``rules.parse_reading`` — one rule for both paths.

Payload forms (UTF-8):
- JSON: one reading ``{"ts": 1788220800, "value": 4.2}``, a list of them, or ``{"readings": [...]}``;
  ``ts`` is epoch seconds or ISO-8601 with an offset.
- compact: ``<epoch seconds>,<value>``, several separated by newlines or ``;`` (``1788220800,4.2``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PREFIX, SUFFIX = "bk", "reading"
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True)
class DeviceTopic:
    tenant_id: str
    site_id: str
    sensor_id: str


def topic_for(tenant_id: str, site_id: str, sensor_id: str) -> str:
    """The one topic a device may publish to (the broker's ACL says so too)."""
    return f"{PREFIX}/{tenant_id}/{site_id}/{sensor_id}/{SUFFIX}"


def parse_topic(topic: str) -> DeviceTopic | str:
    """The device a topic names, or why it names none."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != PREFIX or parts[4] != SUFFIX:
        return f"topic must be {PREFIX}/<tenant>/<site>/<sensor>/{SUFFIX}"
    if not all(_SEGMENT.match(p) for p in parts[1:4]):
        return "tenant, site and sensor must be 1-64 of A-Z a-z 0-9 _ . : -"
    return DeviceTopic(parts[1], parts[2], parts[3])


def decode(payload: bytes, max_readings: int) -> list[object] | str:
    """The readings a payload carries (not yet checked one by one), or why it is malformed."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return f"payload larger than {MAX_PAYLOAD_BYTES} bytes"
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "payload is not UTF-8"
    if not text:
        return "empty payload"
    items = _json(text) if text[0] in "{[" else _compact(text)
    if isinstance(items, str):
        return items
    if not items:
        return "no readings"
    if len(items) > max_readings:
        return f"at most {max_readings} readings per message"
    return items


def _json(text: str) -> list[object] | str:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return f"invalid JSON: {exc.msg} at {exc.pos}"
    if isinstance(doc, dict) and "readings" in doc:
        doc = doc["readings"]
        if not isinstance(doc, list):
            return "readings must be a list"
    return doc if isinstance(doc, list) else [doc]


def _compact(text: str) -> list[object] | str:
    items: list[object] = []
    for n, line in enumerate(re.split(r"[;\n]", text), 1):
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != 2:
            return f"compact line {n}: expected <epoch seconds>,<value>"
        try:
            items.append({"ts": float(fields[0]), "value": float(fields[1])})
        except ValueError:
            return f"compact line {n}: not numbers"
    return items
