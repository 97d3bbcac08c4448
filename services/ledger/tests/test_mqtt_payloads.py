"""MQTT topics, payload forms and the broker's files: pure, no broker (the fast tier)."""

from __future__ import annotations

import base64

import pytest

from bk_ledger.iot import payloads
from bk_ledger.iot.broker import DeviceAccount, mosquitto_hash, render
from bk_ledger.iot.flows import printable

pytestmark = pytest.mark.unit


def test_topic_names_one_device() -> None:
    assert payloads.parse_topic("bk/minghu/lakeside-primary/abc123/reading") == payloads.DeviceTopic(
        "minghu", "lakeside-primary", "abc123"
    )
    assert payloads.topic_for("t", "s", "d") == "bk/t/s/d/reading"
    for bad in ("bk/t/s/d", "bk/t/s/d/state", "xx/t/s/d/reading", "bk/t//d/reading", "bk/t/s/d/reading/x"):
        assert isinstance(payloads.parse_topic(bad), str), bad
    assert isinstance(payloads.parse_topic("bk/t/s/" + "d" * 65 + "/reading"), str)


def test_payload_forms() -> None:
    one = {"ts": 1788220800, "value": 4.2}
    assert payloads.decode(b'{"ts": 1788220800, "value": 4.2}', 10) == [one]
    assert payloads.decode(b'[{"ts": 1788220800, "value": 4.2}]', 10) == [one]
    assert payloads.decode(b'{"readings": [{"ts": 1788220800, "value": 4.2}]}', 10) == [one]
    assert payloads.decode(b"1788220800,4.2", 10) == [{"ts": 1788220800.0, "value": 4.2}]
    assert payloads.decode(b"1788220800,4.2;1788220860,4.4\n1788220920,-18", 10) == [
        {"ts": 1788220800.0, "value": 4.2},
        {"ts": 1788220860.0, "value": 4.4},
        {"ts": 1788220920.0, "value": -18.0},
    ]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"ts": 1, "value": ', "invalid JSON"),
        (b"[]", "no readings"),
        (b'{"readings": 5}', "must be a list"),
        (b"1788220800", "compact line 1"),
        (b"1788220800,warm", "not numbers"),
        (b"1,2;3,4;5,6", "at most 2"),
        (b"x" * (payloads.MAX_PAYLOAD_BYTES + 1), "larger than"),
    ],
)
def test_malformed_payloads_say_why(payload: bytes, why: str) -> None:
    got = payloads.decode(payload, 2)
    assert isinstance(got, str) and why in got


def test_mosquitto_hash_matches_mosquitto_passwd() -> None:
    # `mosquitto_passwd -b pw dev1 secret` (Mosquitto 2.0.11) wrote this line.
    line = (
        "$7$101$ftB4nHUVI0HJ3lkr$"
        "rTVcFwTa9p5MZ7YoyGUlOgNEudCzUdSJYDslb0ziE5Zb2WdnMpPKx5RSQ+sAOECVFWdM95EmQeKlV55skW4Uig=="
    )
    salt = base64.b64decode(line.split("$")[3])
    assert mosquitto_hash("secret", salt=salt) == line
    assert mosquitto_hash("secret") != mosquitto_hash("secret")  # salted


def test_broker_files_give_each_device_its_own_topic_only() -> None:
    passwd, acl = render(
        [DeviceAccount("d2", "t", "s2", "$7$h2"), DeviceAccount("d1", "t", "s1", "$7$h1")],
        ledger_user="bk-ledger",
        ledger_hash="$7$L",
    )
    assert passwd == "bk-ledger:$7$L\nd1:$7$h1\nd2:$7$h2\n"
    blocks = acl.split("\n\n")
    assert blocks[0].endswith("user bk-ledger\ntopic read bk/+/+/+/reading")
    assert blocks[1:] == [
        "user d1\ntopic write bk/t/s1/d1/reading",
        "user d2\ntopic write bk/t/s2/d2/reading\n",
    ]


def test_dead_letter_payload_is_truncated_and_storable() -> None:
    assert printable(b"abc\x00\xffdef", 100) == "abc\\x00\\xffdef"
    assert printable("温度".encode() * 100, 5) == "温度温度温"
