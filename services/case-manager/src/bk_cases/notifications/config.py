"""Settings of the phone channels (推送渠道) and the channels they build.

Secrets come from the environment only (``BK_WECHAT_APP_SECRET``, ``BK_SMS_ACCESS_KEY_SECRET``,
``BK_NOTIFY_ROBOTS``). The providers' base URLs default to their real hosts and can be pointed
elsewhere (a relay, or the fakes on loopback in tests and the latency bench).

Production refuses to start without a channel that reaches people — WeChat, SMS, or a WeCom /
DingTalk duty-group robot — naming the settings: an alarm that reaches no phone is the defect this
exists to prevent. A deployment that cannot reach those providers (a government network with no
internet egress) says so explicitly with ``BK_PHONE_CHANNELS_OFF=true``: alarms then reach the
console inbox and webhooks only, and the case-manager says so in its log at every start. The
embedded mode (the demo, one machine) may run without them: its messages then land in the inbox,
and each skipped channel is recorded as ``skipped: channel not configured (<setting>)`` where the
inbox shows it.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from bk_cases.notifications.providers import ChannelSender
from bk_cases.notifications.robots import DINGTALK_BASE, WECOM_BASE, Robot, RobotSender
from bk_cases.notifications.sms import DEFAULT_BASE as ALIYUN_BASE
from bk_cases.notifications.sms import AliyunSmsSender
from bk_cases.notifications.wechat import DEFAULT_BASE as WECHAT_BASE
from bk_cases.notifications.wechat import WeChatSubscribeSender
from bkcore.production_checks import placeholder_refusals
from bkcore.settings import CoreSettings

log = logging.getLogger(__name__)
FIELDS_DOC = "site, camera, type, risk_class, status, time, deadline, title"


class RobotSetting(BaseModel):
    kind: Literal["wecom", "dingtalk"]
    token: SecretStr = Field(description="WeCom: the webhook key; DingTalk: the access_token")
    secret: SecretStr = Field(SecretStr(""), description="DingTalk: the signing secret (加签, SEC…)")


class NotifySettings(CoreSettings):
    """The phone channels' part of the case-manager's settings (``BK_<FIELD>``)."""

    wechat_app_id: str = Field(
        "", description="mini-program AppID sending subscribe messages; empty: no WeChat"
    )
    wechat_app_secret: SecretStr = Field(SecretStr(""), description="the mini-program's AppSecret")
    wechat_template_id: str = Field("", description="the alarm's subscribe-message template id (模板ID)")
    wechat_template_keywords: dict[str, str] = Field(
        default_factory=lambda: {
            "thing1": "site",
            "thing2": "type",
            "phrase3": "status",
            "time4": "time",
            "thing5": "camera",
        },
        description=f"JSON: the template's keywords -> the field each shows ({FIELDS_DOC})",
    )
    wechat_page: str = Field(
        "pages/cases/detail?id={case_id}",
        description="mini-program page a tap opens ({case_id} is filled in)",
    )
    wechat_miniprogram_state: Literal["developer", "trial", "formal"] = Field(
        "formal", description="which build of the mini-program the tap opens"
    )
    wechat_api_base: str = Field(WECHAT_BASE, description="WeChat API base URL")
    sms_access_key_id: str = Field("", description="Aliyun AccessKey ID for SendSms; empty: no SMS")
    sms_access_key_secret: SecretStr = Field(SecretStr(""), description="Aliyun AccessKey secret")
    sms_sign_name: str = Field("", description="the approved SMS signature (签名名称)")
    sms_template_code: str = Field("", description="the approved alarm template (模板CODE, SMS_…)")
    sms_template_params: dict[str, str] = Field(
        default_factory=lambda: {"site": "site", "type": "type", "time": "time"},
        description=f"JSON: the template's variables -> the field each takes ({FIELDS_DOC})",
    )
    sms_region: str = Field("cn-hangzhou", description="Aliyun RegionId of the SMS service")
    sms_api_base: str = Field(ALIYUN_BASE, description="Aliyun SMS endpoint")
    notify_robots: dict[str, RobotSetting] = Field(
        default_factory=dict,
        description='JSON: duty-group name -> {"kind": "wecom"|"dingtalk", "token": …, "secret": …}; '
        "a user's notify_robot names one",
    )
    wecom_api_base: str = Field(WECOM_BASE, description="WeCom robot API base URL")
    dingtalk_api_base: str = Field(DINGTALK_BASE, description="DingTalk robot API base URL")
    phone_channels_off: bool = Field(
        False,
        description="production without any phone channel, on purpose (no internet egress): alarms "
        "reach the console inbox and webhooks only",
    )
    notify_max_attempts: int = Field(
        5, ge=1, le=20, description="tries per phone delivery before its dead letter"
    )
    notify_backoff_s: float = Field(0.5, gt=0, description="first retry delay of a phone delivery; doubles")
    notify_backoff_cap_s: float = Field(30.0, gt=0, description="longest wait between two tries")
    notify_timeout_s: float = Field(5.0, gt=0, description="one provider request's time limit")

    def channel_refusals(self) -> list[str]:
        """What stops a configured channel from working, by setting name (every mode)."""
        out: list[str] = []
        if self.wechat_app_id:
            for name in ("wechat_app_secret", "wechat_template_id"):
                if not _given(getattr(self, name)):
                    out.append(f"BK_{name.upper()} is required when BK_WECHAT_APP_ID is set")
        if self.sms_access_key_id:
            for name in ("sms_access_key_secret", "sms_sign_name", "sms_template_code"):
                if not _given(getattr(self, name)):
                    out.append(f"BK_{name.upper()} is required when BK_SMS_ACCESS_KEY_ID is set")
        for name, robot in self.notify_robots.items():
            if not robot.token.get_secret_value():
                out.append(f"BK_NOTIFY_ROBOTS[{name}]: token is required")
            if robot.kind == "dingtalk" and not robot.secret.get_secret_value():
                out.append(f"BK_NOTIFY_ROBOTS[{name}]: a DingTalk robot needs its signing secret (加签)")
        return out

    def setting_refusals(self) -> list[str]:
        return [*super().setting_refusals(), *self.channel_refusals()]

    def production_refusals(self, private, has_public):  # type: ignore[no-untyped-def]
        out = list(super().production_refusals(private, has_public))
        if not (
            self.wechat_app_id or self.sms_access_key_id or self.notify_robots or self.phone_channels_off
        ):
            out.append(
                "alarms must reach phones: set BK_WECHAT_APP_ID (with BK_WECHAT_APP_SECRET, "
                "BK_WECHAT_TEMPLATE_ID), or BK_SMS_ACCESS_KEY_ID (with BK_SMS_ACCESS_KEY_SECRET, "
                "BK_SMS_SIGN_NAME, BK_SMS_TEMPLATE_CODE), or BK_NOTIFY_ROBOTS; or, with no internet "
                "egress, BK_PHONE_CHANNELS_OFF=true (inbox and webhooks only)"
            )
        # The robots' tokens and signing secrets sit inside one JSON setting, out of the base
        # class's sight: a token copied from a test or a doc is refused here, by the robot's name.
        out += placeholder_refusals(
            (f"BK_NOTIFY_ROBOTS[{name}].{part}", value.get_secret_value())
            for name, robot in self.notify_robots.items()
            for part, value in (("token", robot.token), ("secret", robot.secret))
        )
        for name in ("wechat_api_base", "sms_api_base", "wecom_api_base", "dingtalk_api_base"):
            if not str(getattr(self, name)).startswith("https://"):
                out.append(f"BK_{name.upper()} must be an https:// URL")
        return out


def _given(value: object) -> bool:
    return bool(value.get_secret_value() if isinstance(value, SecretStr) else value)


def build_channels(settings: NotifySettings) -> dict[str, ChannelSender]:
    """The phone channels the settings configure (none in the demo without them)."""
    senders: dict[str, ChannelSender] = {}
    timeout = settings.notify_timeout_s
    if settings.wechat_app_id:
        senders["wechat"] = WeChatSubscribeSender(
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret.get_secret_value(),
            template_id=settings.wechat_template_id,
            keywords=settings.wechat_template_keywords,
            page=settings.wechat_page,
            miniprogram_state=settings.wechat_miniprogram_state,
            lang="zh_CN",
            base_url=settings.wechat_api_base,
            timeout_s=timeout,
        )
    if settings.sms_access_key_id:
        senders["sms"] = AliyunSmsSender(
            access_key_id=settings.sms_access_key_id,
            access_key_secret=settings.sms_access_key_secret.get_secret_value(),
            sign_name=settings.sms_sign_name,
            template_code=settings.sms_template_code,
            template_params=settings.sms_template_params,
            region=settings.sms_region,
            base_url=settings.sms_api_base,
            timeout_s=timeout,
        )
    if settings.notify_robots:
        robots = {
            name: Robot(kind=r.kind, token=r.token.get_secret_value(), secret=r.secret.get_secret_value())
            for name, r in settings.notify_robots.items()
        }
        senders["robot"] = RobotSender(
            robots,
            wecom_base=settings.wecom_api_base,
            dingtalk_base=settings.dingtalk_api_base,
            timeout_s=timeout,
        )
    if not senders:
        log.warning(
            "no phone channel configured%s: alarms reach the console inbox and webhooks only",
            " (BK_PHONE_CHANNELS_OFF=true)" if settings.phone_channels_off else "",
        )
    return senders
