"""Faithful fakes of the phone-channel providers, served on loopback, for tests and the latency bench.

Each checks a request the way its provider documents it and answers the way the provider does,
so a wrong request fails: WeChat (``cgi-bin/token`` and ``cgi-bin/message/subscribe/send``: app id
and secret, token validity and expiry → 40001/42001, template, keywords and each keyword kind's
limit → 47003, one consent per message → 43101), Aliyun SMS (``SendSms`` RPC: every common
parameter, the HMAC-SHA1 signature recomputed here by its own route → ``SignatureDoesNotMatch``,
timestamp window, nonce reuse, sign name, template code and variables, phone numbers), WeCom robots
(key → 93000, msgtype text/markdown and their byte limits) and DingTalk robots (token, timestamp
within an hour, ``sign`` recomputed → 310000, markdown/text, ``at``).

The signature checks are written from the providers' documents independently of the senders in
``bk_cases.notifications``, so a mistake there is not repeated here. Accepted requests are kept in
``received`` with their arrival time (``time.time()``), which is what the latency bench reads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Received:
    at: float  # time.time() when the request arrived
    path: str
    query: dict[str, str]
    body: Any  # the parsed JSON body, or the form parameters


@dataclass
class _Failures:
    """Injected failures: the next ``n`` accepted-looking requests get ``answer`` instead."""

    n: int = 0
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)

    def take(self) -> JSONResponse | None:
        if self.n <= 0:
            return None
        self.n -= 1
        return JSONResponse(self.answer, status_code=self.status)


class _Fake(ABC):
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refused: list[tuple[str, Any]] = []  # (why, request body): what a wrong request got
        self._fail = _Failures()
        self.app = Starlette(routes=self.routes())

    @abstractmethod
    def routes(self) -> list[Route]:
        """The provider's endpoints, as it documents them."""

    def fail_next(self, n: int, answer: dict[str, Any], status: int = 200) -> None:
        self._fail = _Failures(n, status, answer)

    def _refuse(self, why: str, body: Any, answer: dict[str, Any], status: int = 200) -> JSONResponse:
        self.refused.append((why, body))
        return JSONResponse(answer, status_code=status)


# --- WeChat ------------------------------------------------------------------------------------

#: Keyword kind -> a check of its value, as WeChat's subscribe-message rules state them.
_TIME = re.compile(
    r"^(\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2}(~(\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2})?$"
)
_WECHAT_KINDS = {
    "thing": lambda v: 0 < len(v) <= 20,
    "phrase": lambda v: 0 < len(v) <= 5 and not re.search(r"[0-9A-Za-z]", v),
    "time": lambda v: bool(_TIME.match(v)),
    "date": lambda v: bool(re.match(r"^\d{4}年\d{1,2}月\d{1,2}日$", v)),
    "character_string": lambda v: 0 < len(v) <= 32 and v.isascii(),
    "number": lambda v: 0 < len(v) <= 32 and bool(re.match(r"^[\d.]+$", v)),
    "name": lambda v: 0 < len(v) <= 10,
    "phone_number": lambda v: 0 < len(v) <= 17,
}


class FakeWeChat(_Fake):
    """``api.weixin.qq.com`` for one mini-program and one subscribe-message template."""

    def __init__(
        self, *, app_id: str, app_secret: str, template_id: str, keywords: list[str], expires_in: int = 7200
    ) -> None:
        self.app_id, self.app_secret, self.template_id = app_id, app_secret, template_id
        self.keywords = list(keywords)
        self.expires_in = expires_in
        self.tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.token_requests = 0
        self.consents: dict[str, int] | None = None  # openid -> messages allowed; None: unlimited
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            Route("/cgi-bin/token", self.token, methods=["GET"]),
            Route("/cgi-bin/message/subscribe/send", self.send, methods=["POST"]),
        ]

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (as when WeChat's 2 h run out)."""
        self.tokens = {t: 0.0 for t in self.tokens}

    async def token(self, request: Request) -> JSONResponse:
        q = dict(request.query_params)
        self.token_requests += 1
        if q.get("grant_type") != "client_credential":
            return self._refuse("grant_type", q, {"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != self.app_id:
            return self._refuse("appid", q, {"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != self.app_secret:
            return self._refuse("secret", q, {"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"tok-{self.token_requests}-{time.time_ns()}"
        self.tokens[token] = time.time() + self.expires_in
        return JSONResponse({"access_token": token, "expires_in": self.expires_in})

    async def send(self, request: Request) -> JSONResponse:
        token = request.query_params.get("access_token", "")
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse("json", raw, {"errcode": 47001, "errmsg": "data format error"})
        if token not in self.tokens:
            return self._refuse("token", body, {"errcode": 40001, "errmsg": "invalid credential"})
        if self.tokens[token] <= time.time():
            return self._refuse("expired", body, {"errcode": 42001, "errmsg": "access_token expired"})
        if failed := self._fail.take():
            return failed
        why = self._check(body)
        if why:
            code = {"touser": 40003, "template_id": 40037, "page": 41030}.get(why.split(":")[0], 47003)
            return self._refuse(why, body, {"errcode": code, "errmsg": f"argument invalid! {why}"})
        if self.consents is not None:
            left = self.consents.get(body["touser"], 0)
            if left <= 0:
                return self._refuse(
                    "consent", body, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
                )
            self.consents[body["touser"]] = left - 1
        self.received.append(Received(time.time(), request.url.path, dict(request.query_params), body))
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(self.received)})

    def _check(self, body: Any) -> str:
        if not isinstance(body, dict):
            return "body: not an object"
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return "touser: missing"
        if body.get("template_id") != self.template_id:
            return "template_id: unknown"
        page = body.get("page", "")
        if not isinstance(page, str) or "://" in page:  # a page of this mini-program, not a URL
            return "page: must be a page path of the mini-program"
        if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
            return "miniprogram_state: invalid"
        if body.get("lang", "zh_CN") not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
            return "lang: invalid"
        data = body.get("data")
        if not isinstance(data, dict) or set(data) != set(self.keywords):
            return f"data: keywords {sorted(data or {})} != template's {sorted(self.keywords)}"
        for keyword, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            kind = re.sub(r"\d+$", "", keyword)
            if not isinstance(value, str) or not _WECHAT_KINDS.get(kind, lambda v: bool(v))(value):
                return f"data.{keyword}.value invalid: {value!r}"
        return ""


# --- Aliyun SMS --------------------------------------------------------------------------------


def _aliyun_encode(value: str) -> str:
    # The document's recipe: form-encode, then "+" -> "%20", "*" -> "%2A", "%7E" -> "~".
    return quote_plus(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def aliyun_expected_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(_aliyun_encode(k) + "=" + _aliyun_encode(v) for k, v in pairs)
    to_sign = method + "&" + _aliyun_encode("/") + "&" + _aliyun_encode(canonical)
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class FakeAliyunSms(_Fake):
    """``dysmsapi.aliyuncs.com`` ``SendSms`` (API 2017-05-25), one key pair, sign name and template."""

    REQUIRED = (
        "AccessKeyId",
        "Action",
        "Format",
        "RegionId",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "Timestamp",
        "Version",
        "Signature",
        "PhoneNumbers",
        "SignName",
        "TemplateCode",
    )

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        variables: list[str],
    ) -> None:
        self.keys = {access_key_id: access_key_secret}
        self.sign_name, self.template_code, self.variables = sign_name, template_code, list(variables)
        self.nonces: set[str] = set()
        super().__init__()

    def routes(self) -> list[Route]:
        return [Route("/", self.rpc, methods=["GET", "POST"])]

    def _error(self, code: str, params: Any, status: int = 200) -> JSONResponse:
        return self._refuse(code, params, {"Code": code, "Message": code, "RequestId": "fake"}, status)

    async def rpc(self, request: Request) -> JSONResponse:
        if request.method == "POST":
            if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
                return self._error("InvalidParameter.ContentType", None, 400)
            params = dict(
                parse_qsl((await request.body()).decode(), keep_blank_values=True, strict_parsing=True)
            )
        else:
            params = dict(request.query_params)
        missing = [k for k in self.REQUIRED if not params.get(k)]
        if missing:
            return self._error(f"MissingParameter.{missing[0]}", params, 400)
        fixed = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
        }
        for k, v in fixed.items():
            if params[k] != v:
                return self._error(f"InvalidParameter.{k}", params, 400)
        if params["Format"] not in ("JSON", "XML"):
            return self._error("InvalidParameter.Format", params, 400)
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return self._error("InvalidAccessKeyId.NotFound", params, 404)
        try:
            stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return self._error("InvalidTimeStamp.Format", params, 400)
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 15 * 60:
            return self._error("InvalidTimeStamp.Expired", params, 400)
        if not hmac.compare_digest(
            params["Signature"], aliyun_expected_signature(secret, request.method, params)
        ):
            return self._error("SignatureDoesNotMatch", params, 400)
        if params["SignatureNonce"] in self.nonces:
            return self._error("SignatureNonceUsed", params, 400)
        self.nonces.add(params["SignatureNonce"])
        if failed := self._fail.take():
            return failed
        if params["SignName"] != self.sign_name:
            return self._error("isv.SMS_SIGNATURE_ILLEGAL", params)
        if params["TemplateCode"] != self.template_code:
            return self._error("isv.SMS_TEMPLATE_ILLEGAL", params)
        phones = params["PhoneNumbers"].split(",")
        # Mainland: the 11 digits (or with 86 / +86 / 0086); elsewhere: country code and number.
        if not all(re.fullmatch(r"((\+|00)?86)?1\d{10}|[2-9]\d{7,14}", p) for p in phones):
            return self._error("isv.MOBILE_NUMBER_ILLEGAL", params)
        try:
            values = json.loads(params.get("TemplateParam", "{}"))
        except ValueError:
            return self._error("isv.INVALID_JSON_PARAM", params)
        if not isinstance(values, dict) or set(values) != set(self.variables):
            return self._error("isv.TEMPLATE_MISSING_PARAMETERS", params)
        if any(not isinstance(v, str) or not v or len(v) > 35 for v in values.values()):
            return self._error("isv.PARAM_LENGTH_LIMIT", params)
        self.received.append(Received(time.time(), "/", {}, {**params, "TemplateParam": values}))
        return JSONResponse(
            {"Code": "OK", "Message": "OK", "BizId": f"biz-{len(self.received)}", "RequestId": "r"}
        )


# --- WeCom and DingTalk group robots ------------------------------------------------------------


class FakeWeCom(_Fake):
    """``qyapi.weixin.qq.com`` group robot webhooks, by key."""

    def __init__(self, *, keys: list[str]) -> None:
        self.keys = set(keys)
        super().__init__()

    def routes(self) -> list[Route]:
        return [Route("/cgi-bin/webhook/send", self.send, methods=["POST"])]

    async def send(self, request: Request) -> JSONResponse:
        key = request.query_params.get("key", "")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._refuse("json", None, {"errcode": 40008, "errmsg": "invalid message type"})
        if key not in self.keys:
            return self._refuse("key", body, {"errcode": 93000, "errmsg": "invalid webhook url"})
        if failed := self._fail.take():
            return failed
        kind = body.get("msgtype") if isinstance(body, dict) else None
        part = body.get(kind) if kind in ("text", "markdown") else None
        limit = 2048 if kind == "text" else 4096
        content = part.get("content") if isinstance(part, dict) else None
        if not isinstance(content, str) or not content or len(content.encode()) > limit:
            return self._refuse("content", body, {"errcode": 44004, "errmsg": "empty content or too long"})
        mentions = part.get("mentioned_mobile_list", []) if kind == "text" else []
        if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
            return self._refuse(
                "mentions", body, {"errcode": 40058, "errmsg": "invalid mentioned_mobile_list"}
            )
        self.received.append(Received(time.time(), request.url.path, {"key": key}, body))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


class FakeDingTalk(_Fake):
    """``oapi.dingtalk.com`` custom robots with signing (加签), by access token."""

    def __init__(self, *, robots: Mapping[str, str]) -> None:
        self.robots = dict(robots)  # access_token -> signing secret
        super().__init__()

    def routes(self) -> list[Route]:
        return [Route("/robot/send", self.send, methods=["POST"])]

    async def send(self, request: Request) -> JSONResponse:
        q = dict(request.query_params)  # URL-decoded, as DingTalk reads them
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self._refuse("json", None, {"errcode": 43004, "errmsg": "invalid json"})
        secret = self.robots.get(q.get("access_token", ""))
        if secret is None:
            return self._refuse("token", body, {"errcode": 300001, "errmsg": "token is not exist"})
        try:
            ts = int(q.get("timestamp", ""))
        except ValueError:
            return self._refuse("timestamp", body, {"errcode": 310000, "errmsg": "invalid timestamp"})
        if abs(time.time() * 1000 - ts) > 3600 * 1000:
            return self._refuse("timestamp", body, {"errcode": 310000, "errmsg": "invalid timestamp"})
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(q.get("sign", ""), expected):
            return self._refuse("sign", body, {"errcode": 310000, "errmsg": "sign not match"})
        if failed := self._fail.take():
            return failed
        kind = body.get("msgtype") if isinstance(body, dict) else None
        if kind == "markdown":
            md = body.get("markdown")
            ok = isinstance(md, dict) and all(
                isinstance(md.get(k), str) and md.get(k) for k in ("title", "text")
            )
        elif kind == "text":
            ok = isinstance(body.get("text"), dict) and bool(body["text"].get("content"))
        else:
            ok = False
        at = body.get("at", {}) if isinstance(body, dict) else {}
        mobiles = at.get("atMobiles", []) if isinstance(at, dict) else None
        if not ok or not isinstance(mobiles, list) or not isinstance(at.get("isAtAll", False), bool):
            return self._refuse("body", body, {"errcode": 40035, "errmsg": "missing or invalid parameter"})
        self.received.append(Received(time.time(), request.url.path, q, body))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run an ASGI app under uvicorn on a free loopback port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 30
    while not server.started:
        if task.done() or asyncio.get_running_loop().time() > deadline:
            raise RuntimeError("the fake provider did not start on loopback")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
