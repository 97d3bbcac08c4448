"""The case-manager with every phone channel configured as an operator would, pointed at the
providers' faithful fakes on loopback (a unique module name: suites share one interpreter)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from cm_demo import DEMO
from cm_testkit import make_runtime

from bk_cases.service import CaseService, create_service, default_channels
from bk_cases.settings import CaseSettings
from bkcore.clock import FakeClock
from bkcore.testing.notify_providers import FakeAliyunSms, FakeDingTalk, FakeWeChat, FakeWeCom, serve

KEYWORDS = {"thing1": "site", "thing2": "type", "phrase3": "status", "time4": "time", "thing5": "camera"}


@dataclass
class Fakes:
    wechat: FakeWeChat
    sms: FakeAliyunSms
    wecom: FakeWeCom
    ding: FakeDingTalk


@asynccontextmanager
async def channels_platform(
    tmp: Path, clock: FakeClock, *, attempts: int = 3, **settings_update: object
) -> AsyncIterator[tuple[CaseService, Fakes]]:
    """The case-manager (demo seeded) and the four fakes it sends to."""
    fakes = Fakes(
        FakeWeChat(app_id="wx-app", app_secret="wx-secret", template_id="TPL-ALARM", keywords=list(KEYWORDS)),
        FakeAliyunSms(
            access_key_id="LTAI-for-tests",
            access_key_secret="sms-secret",
            sign_name="明厨亮灶",
            template_code="SMS_4711",
            variables=["site", "type", "time"],
        ),
        FakeWeCom(keys=["wecom-key-for-tests"]),
        FakeDingTalk(robots={"ding-token-for-tests": "SEC-ding-for-tests"}),
    )
    async with AsyncExitStack() as stack:
        wx = await stack.enter_async_context(serve(fakes.wechat.app))
        sms = await stack.enter_async_context(serve(fakes.sms.app))
        wecom = await stack.enter_async_context(serve(fakes.wecom.app))
        ding = await stack.enter_async_context(serve(fakes.ding.app))
        runtime, settings = make_runtime(tmp, clock)
        env = dict(  # what an operator sets (docs/operations.md), pointed at the fakes
            wechat_app_id="wx-app",
            wechat_app_secret="wx-secret",
            wechat_template_id="TPL-ALARM",
            wechat_template_keywords=KEYWORDS,
            wechat_api_base=wx,
            sms_access_key_id="LTAI-for-tests",
            sms_access_key_secret="sms-secret",
            sms_sign_name="明厨亮灶",
            sms_template_code="SMS_4711",
            sms_api_base=sms,
            notify_robots={
                "lakeside-duty": {
                    "kind": "dingtalk",
                    "token": "ding-token-for-tests",
                    "secret": "SEC-ding-for-tests",
                },
                "city-duty": {"kind": "wecom", "token": "wecom-key-for-tests"},
            },
            wecom_api_base=wecom,
            dingtalk_api_base=ding,
            notify_max_attempts=attempts,
            notify_backoff_s=0.01,
            notify_backoff_cap_s=0.05,
        )
        env.update(settings_update)
        settings = CaseSettings(**{**settings.model_dump(), **env})
        svc = create_service(runtime, settings, default_channels(settings))
        await svc.start()
        await runtime.bus.start()
        await svc.seed_demo(DEMO)
        try:
            yield svc, fakes
        finally:
            await runtime.bus.stop()
            await svc.stop()
