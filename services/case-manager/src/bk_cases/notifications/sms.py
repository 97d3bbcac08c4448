"""Aliyun SMS (阿里云短信服务) ``SendSms``: a template message to one phone, signed as Aliyun documents.

The RPC request (API version 2017-05-25) carries the common parameters (``AccessKeyId``, ``Action``,
``Format``, ``RegionId``, ``SignatureMethod`` HMAC-SHA1, ``SignatureNonce`` unique per request,
``SignatureVersion`` 1.0, ``Timestamp`` ISO 8601 UTC, ``Version``) and the operation's own
(``PhoneNumbers``, ``SignName``, ``TemplateCode``, ``TemplateParam`` as a JSON object, ``OutId``).
The signature: sort the parameters by name; percent-encode names and values per RFC 3986 (only
``A-Za-z0-9-_.~`` stay; a space is ``%20``, never ``+``); join them ``k=v`` with ``&``; the string to
sign is ``METHOD&%2F&`` + that string percent-encoded again; HMAC-SHA1 keyed with
``AccessKeySecret + "&"``, base64. The answer is JSON with ``Code`` (``OK`` or an error code) and
``BizId``. Text cannot be sent freely: the template (approved beforehand) holds the wording and the
``TemplateParam`` variables fill it, each ≤ 35 characters (Aliyun's limit for a variable).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from bk_cases.notifications.providers import (
    Address,
    Alarm,
    ChannelName,
    DeliveryFailed,
    cut,
    http_failure,
    national_mobile,
    transport_failure,
)

DEFAULT_BASE = "https://dysmsapi.aliyuncs.com"
API_VERSION = "2017-05-25"
VARIABLE_LIMIT = 35
#: Aliyun's throttling and transient codes: another attempt later may pass.
RETRYABLE = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "ServiceUnavailable", "InternalError"}
)


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as Aliyun signs it: unreserved characters stay, ``~`` included."""
    return quote(value, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Base64 HMAC-SHA1 of the string to sign, keyed with the AccessKey secret and ``&``."""
    mac = hmac.new((secret + "&").encode(), string_to_sign(method, params).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def template_params(names: Mapping[str, str], fields: Mapping[str, str]) -> str:
    """``TemplateParam``: each template variable with its field's value, cut to Aliyun's limit."""
    values = {var: cut(fields.get(name, "") or "-", VARIABLE_LIMIT) for var, name in names.items()}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


class AliyunSmsSender:
    name = ChannelName.SMS

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        template_params: Mapping[str, str],
        region: str = "cn-hangzhou",
        base_url: str = DEFAULT_BASE,
        timeout_s: float = 5.0,
        client: httpx.AsyncClient | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        given = (
            ("access_key_id", access_key_id),
            ("access_key_secret", access_key_secret),
            ("sign_name", sign_name),
            ("template_code", template_code),
        )
        missing = [n for n, v in given if not v]
        if missing or not template_params:
            raise ValueError(f"Aliyun SMS needs {', '.join(missing) or 'template parameters'}")
        self._key_id, self._secret = access_key_id, access_key_secret
        self._sign_name, self._template = sign_name, template_code
        self._params = dict(template_params)
        self._region = region
        self._url = base_url.rstrip("/") + "/"
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._now = now

    async def aclose(self) -> None:
        await self._client.aclose()

    def signed_params(self, phone: str, alarm: Alarm) -> dict[str, str]:
        """Every parameter of one ``SendSms`` POST, ``Signature`` included."""
        params = {
            "AccessKeyId": self._key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self._region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,  # a fresh one per attempt: Aliyun refuses a reused nonce
            "SignatureVersion": "1.0",
            "Timestamp": self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            "PhoneNumbers": phone,
            "SignName": self._sign_name,
            "TemplateCode": self._template,
            "TemplateParam": template_params(self._params, alarm.fields),
            "OutId": alarm.notification_id[:64],  # comes back in delivery receipts
        }
        params["Signature"] = signature(self._secret, "POST", params)
        return params

    async def send(self, to: Address, alarm: Alarm) -> str:
        if not to.phone:
            raise DeliveryFailed(self.name, "the person has no phone number", retryable=False)
        body = "&".join(
            f"{percent_encode(k)}={percent_encode(v)}"
            for k, v in self.signed_params(national_mobile(to.phone), alarm).items()
        )
        try:
            r = await self._client.post(
                self._url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
        except httpx.HTTPError as exc:
            raise transport_failure(self.name, exc) from None
        try:
            answer = r.json()
        except ValueError:
            raise http_failure(self.name, r) from None
        code = str(answer.get("Code", "")) if isinstance(answer, dict) else ""
        if code == "OK":
            return str(answer.get("BizId", ""))
        if not code:
            raise http_failure(self.name, r)
        retry = code in RETRYABLE or r.status_code >= 500
        raise DeliveryFailed(self.name, f"SendSms {code}: {answer.get('Message', '')}", retryable=retry)
