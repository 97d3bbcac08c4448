"""Camera source URLs: which kind they are, and how credentials are kept out of them.

Credentials never live in a stored URL: they are split off on the way in, stored separately, and
put back only inside the pull worker, just before the URL reaches FFmpeg.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https"})
SIM_PREFIX = "sim:"
_USERINFO_RE = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]*@)", re.IGNORECASE)


class InvalidSourceUrl(ValueError):
    """The URL is not something the gateway can pull."""


def source_kind(url: str) -> str:
    """'sim', 'file', 'rtsp', 'rtmp', 'hls', 'http-flv' or 'http'; raises InvalidSourceUrl."""
    if url.startswith(SIM_PREFIX):
        if not url[len(SIM_PREFIX):].strip():
            raise InvalidSourceUrl("sim: needs a scenario name, e.g. sim:cooking")
        return "sim"
    if url.startswith("file://") or url.startswith("/"):
        return "file"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in NETWORK_SCHEMES:
        raise InvalidSourceUrl(
            f"unsupported scheme {scheme or '(none)'!r}: use rtsp, rtmp, http(s), file or sim")
    if not parts.hostname:
        raise InvalidSourceUrl("the URL has no host")
    if scheme.startswith("rtsp"):
        return "rtsp"
    if scheme.startswith("rtmp"):
        return "rtmp"
    path = parts.path.lower()
    if path.endswith(".m3u8"):
        return "hls"
    if path.endswith(".flv"):
        return "http-flv"
    return "http"


def split_credentials(url: str) -> tuple[str, str, str]:
    """(url without userinfo, username, password)."""
    if url.startswith(SIM_PREFIX) or url.startswith("/"):
        return url, "", ""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, "", ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, unquote(parts.username or ""), unquote(parts.password or "")


def with_credentials(url: str, username: str, password: str) -> str:
    """Put credentials back into a network URL (inside the worker only)."""
    if not username or source_kind(url) in ("sim", "file"):
        return url
    scheme, rest = url.split("://", 1)
    userinfo = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return f"{scheme}://{userinfo}@{rest}"


def mask_url(url: str) -> str:
    """The URL with any userinfo replaced by ``***``: safe for logs, errors and API responses."""
    return _USERINFO_RE.sub(lambda m: m.group("scheme") + "***@", url)


def mask_text(text: str, *secrets: str) -> str:
    """Mask URLs and any known secret inside free text (FFmpeg error messages quote URLs)."""
    text = mask_url(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
            text = text.replace(quote(secret, safe=""), "***")
    return text
