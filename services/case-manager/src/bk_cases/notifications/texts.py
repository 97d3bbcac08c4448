"""The words of a message (通知文案), in the tenant's language, naming the site and camera, not ids.

Pure: ``render`` takes the facts (names already looked up, times already in the tenant's zone) and
returns the title, the body and the named ``fields`` the providers' templates take (a WeChat
keyword, an SMS template variable). One text for every channel, so the inbox, the phone and the duty
group read the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

#: What happened, by message template (a WeChat ``phrase`` keyword takes at most 5 characters).
STATUS = {
    "case_created": ("新告警", "New alarm"),
    "case_dispatched": ("已派发", "Dispatched"),
    "case_overdue": ("黄牌预警", "Overdue: yellow card"),
    "case_escalated": ("红牌督办", "Escalated: red card"),
    "case_rejected": ("整改驳回", "Rectification rejected"),
    "case_recheck": ("现场复核", "On-site recheck"),
    "case_approved": ("审核通过", "Approved"),
    "case_false_alarm": ("判为误报", "Judged a false alarm"),
    "case_submitted": ("待审核", "Rectified, to review"),
    "case_acknowledged": ("已签收", "Acknowledged"),
    "case_copy": ("抄告", "Copy for information"),
    "digest": ("告警汇总", "Alarm digest"),
}
RISK = {"I": ("一级", "Class I"), "II": ("二级", "Class II"), "III": ("三级", "Class III")}
#: Case types as people say them (the console's i18n table says the same for the screen).
CASE_TYPES_ZH = {
    "rodent": "鼠患",
    "fire_unattended": "动火离人",
    "no_chef_hat": "未戴厨师帽",
    "no_mask": "未戴口罩",
    "no_uniform": "未穿工作服",
    "no_gloves": "未戴手套",
    "smoking": "抽烟",
    "phone_use": "玩手机",
    "trash_bin_open": "垃圾桶未盖",
    "stranger": "陌生人闯入",
    "camera_offline": "摄像头离线",
    "camera_covered": "摄像头遮挡",
    "camera_frozen": "画面冻结",
    "camera_profile_refused": "AI 配置被拒",
}


@dataclass(frozen=True, slots=True)
class Facts:
    """What a message is about, names and local times resolved (``service.alarm_facts``)."""

    template: str
    locale: str = "zh-CN"
    site_name: str = ""
    camera_name: str = ""
    case_type: str = ""
    risk_class: str = ""  # "I", "II", "III"; "" without a case
    seen_at: datetime | None = None  # in the tenant's time zone
    deadline: datetime | None = None  # in the tenant's time zone
    digest_count: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    body: str
    fields: Mapping[str, str]


def is_chinese(locale: str) -> bool:
    return locale.lower().startswith("zh")


def case_type_label(case_type: str, locale: str) -> str:
    if is_chinese(locale):
        return CASE_TYPES_ZH.get(case_type, case_type)
    return case_type.replace("_", " ")


def _when(at: datetime | None, zh: bool) -> str:
    if at is None:
        return ""
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}" if zh else f"{at:%Y-%m-%d %H:%M}"


def render(f: Facts) -> Rendered:
    zh = is_chinese(f.locale)
    i = 0 if zh else 1
    status = STATUS.get(f.template, (f.template, f.template))[i]
    risk = RISK[f.risk_class][i] if f.risk_class in RISK else ""
    kind = case_type_label(f.case_type, f.locale)
    where = " · ".join(x for x in (f.site_name, f.camera_name) if x)
    if f.template == "digest":
        title = f"{status}：{f.digest_count} 条新告警" if zh else f"{status}: {f.digest_count} new alarms"
        body = "请登录平台查看。" if zh else "Open the platform to see them."
    elif zh:
        title = f"【{risk}{status}】{f.site_name} {kind}".strip()
        body = f"{_when(f.seen_at, zh)} {where} 发现「{kind}」。"
        if f.deadline is not None and f.template in ("case_created", "case_dispatched", "case_overdue"):
            body += f"整改期限：{_when(f.deadline, zh)}。"
        if f.note:
            body += f"说明：{f.note}"
    else:
        title = f"[{risk} {status}] {kind} at {f.site_name}".replace("[ ", "[").strip()
        body = f"{_when(f.seen_at, zh)} {where}: {kind}."
        if f.deadline is not None and f.template in ("case_created", "case_dispatched", "case_overdue"):
            body += f" Rectify by {_when(f.deadline, zh)}."
        if f.note:
            body += f" Note: {f.note}"
    fields = {
        "site": f.site_name,
        "camera": f.camera_name or f.site_name,
        "type": kind,
        # The providers' templates are approved in Chinese, and WeChat's ``phrase`` and ``time`` kinds
        # take only Chinese ("新告警", "2026年9月1日 08:30"): these three are Chinese in every locale.
        "risk_class": RISK[f.risk_class][0] if f.risk_class in RISK else "",
        "status": STATUS.get(f.template, (f.template, f.template))[0],
        "time": _when(f.seen_at, True),
        "deadline": _when(f.deadline, True),
        "title": title,
    }
    return Rendered(title=title, body=body.strip(), fields=fields)
