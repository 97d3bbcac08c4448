"""The pure rules of the phone channels: who gets which channel, the words, the signatures."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bk_cases.notifications.providers import Alarm, cut, national_mobile
from bk_cases.notifications.robots import cut_bytes, dingtalk_body, dingtalk_sign, wecom_body
from bk_cases.notifications.rules import channels_for, check_choice, retry_delay_s
from bk_cases.notifications.sms import percent_encode, string_to_sign, template_params
from bk_cases.notifications.texts import Facts, render
from bk_cases.notifications.wechat import keyword_kind, subscribe_data

pytestmark = pytest.mark.unit
EVERY = frozenset({"wechat", "sms", "robot"})
SH = ZoneInfo("Asia/Shanghai")


def test_class_i_goes_on_every_reachable_channel_whatever_the_choice() -> None:
    assert channels_for(risk_class="I", reachable=EVERY, choice={"II": ["sms"]}) == ["wechat", "sms", "robot"]
    assert channels_for(risk_class="I", reachable=frozenset({"sms"})) == ["sms"]
    assert channels_for(risk_class="I", reachable=frozenset()) == []


def test_default_choice_wechat_else_sms_plus_the_duty_group_and_class_iii_stays_in_the_inbox() -> None:
    assert channels_for(risk_class="II", reachable=EVERY) == ["wechat", "robot"]
    assert channels_for(risk_class="II", reachable=frozenset({"sms", "robot"})) == ["sms", "robot"]
    assert channels_for(risk_class="III", reachable=EVERY) == []
    assert channels_for(risk_class="", reachable=frozenset({"wechat"})) == ["wechat"]  # a digest: as II


def test_a_persons_choice_counts_only_where_they_can_be_reached() -> None:
    choice = {"II": ["sms"], "III": ["wechat", "robot"]}
    assert channels_for(risk_class="II", reachable=EVERY, choice=choice) == ["sms"]
    assert channels_for(risk_class="III", reachable=frozenset({"wechat"}), choice=choice) == ["wechat"]
    assert channels_for(risk_class="II", reachable=EVERY, choice={"II": []}) == []  # chose the inbox only


def test_choice_is_validated() -> None:
    assert check_choice({"II": ["sms", "wechat", "sms"]}) == {"II": ["wechat", "sms"]}
    with pytest.raises(ValueError, match="Class I goes everywhere"):
        check_choice({"I": ["sms"]})
    with pytest.raises(ValueError, match="unknown channel"):
        check_choice({"III": ["pager"]})


def test_retry_delays_double_with_equal_jitter_and_a_cap() -> None:
    assert retry_delay_s(1, base_s=0.5, cap_s=30, jitter=0.0) == 0.25
    assert retry_delay_s(1, base_s=0.5, cap_s=30, jitter=1.0) == 0.5
    assert retry_delay_s(3, base_s=0.5, cap_s=30, jitter=1.0) == 2.0
    assert retry_delay_s(20, base_s=0.5, cap_s=30, jitter=1.0) == 30.0


def test_words_in_chinese_name_the_site_and_camera_in_local_time() -> None:
    f = Facts(
        template="case_created",
        locale="zh-CN",
        site_name="湖滨第一小学食堂",
        camera_name="切配区",
        case_type="rodent",
        risk_class="I",
        seen_at=datetime(2026, 9, 1, 8, 30, tzinfo=SH),
        deadline=datetime(2026, 9, 1, 10, 30, tzinfo=SH),
    )
    r = render(f)
    assert r.title == "【一级新告警】湖滨第一小学食堂 鼠患"
    assert (
        r.body == "2026年9月1日 08:30 湖滨第一小学食堂 · 切配区 发现「鼠患」。整改期限：2026年9月1日 10:30。"
    )
    assert (
        r.fields["site"] == "湖滨第一小学食堂"
        and r.fields["camera"] == "切配区"
        and r.fields["type"] == "鼠患"
    )
    assert r.fields["status"] == "新告警" and r.fields["time"] == "2026年9月1日 08:30"


def test_words_in_english_for_an_english_tenant() -> None:
    f = Facts(
        template="case_escalated",
        locale="en",
        site_name="River School",
        camera_name="Kitchen",
        case_type="no_chef_hat",
        risk_class="III",
        seen_at=datetime(2026, 9, 1, 8, 30, tzinfo=SH),
    )
    r = render(f)
    assert r.title == "[Class III Escalated: red card] no chef hat at River School"
    assert r.body == "2026-09-01 08:30 River School · Kitchen: no chef hat."
    assert render(Facts(template="digest", locale="en", digest_count=3)).title == "Alarm digest: 3 new alarms"
    # Template fields WeChat takes only in Chinese stay Chinese (its phrase kind refuses latin letters).
    assert (
        r.fields["status"] == "红牌督办"
        and r.fields["risk_class"] == "三级"
        and r.fields["type"] == "no chef hat"
    )


def test_wechat_keywords_are_held_to_their_kinds_limits() -> None:
    assert keyword_kind("thing12") == "thing" and keyword_kind("character_string3") == "character_string"
    data = subscribe_data(
        {"thing1": "site", "phrase2": "status", "time3": "time"}, {"site": "x" * 30, "status": "红牌督办超期"}
    )
    assert data["thing1"]["value"] == "x" * 19 + "…" and len(data["phrase2"]["value"]) == 5
    assert data["time3"]["value"] == "-"  # an empty value is refused by WeChat: a dash stands in
    assert cut("abc", 3) == "abc"


def test_aliyun_percent_encoding_and_string_to_sign() -> None:
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"  # RFC 3986: space %20, * %2A, ~ kept
    assert string_to_sign("POST", {"B": "2", "A": "1 1"}) == "POST&%2F&A%3D1%25201%26B%3D2"
    assert template_params({"site": "site"}, {"site": "湖滨"}) == '{"site":"湖滨"}'


def test_dingtalk_sign_and_robot_bodies() -> None:
    # base64 of an HMAC may hold "+", "/" and "=": the sign travels URL-encoded.
    sign = dingtalk_sign("SEC-secret", 1_700_000_000_000)
    assert "+" not in sign and "/" not in sign and "=" not in sign
    alarm = Alarm(notification_id="n", title="T", body="B", case_id="c-1")
    assert dingtalk_body(alarm, "139")["at"] == {"atMobiles": ["139"], "isAtAll": False}
    assert "@139" in dingtalk_body(alarm, "139")["markdown"]["text"]  # type: ignore[index]
    assert wecom_body(alarm, "")["msgtype"] == "markdown" and wecom_body(alarm, "139")["msgtype"] == "text"
    assert len(cut_bytes("鼠" * 1000, 2048).encode()) <= 2048


def test_phones_go_to_the_providers_in_their_national_form() -> None:
    assert national_mobile("+8613800138000") == "13800138000"  # the directory keeps E.164
    assert national_mobile("13800138000") == "13800138000"
    assert national_mobile("+85291234567") == "85291234567"
