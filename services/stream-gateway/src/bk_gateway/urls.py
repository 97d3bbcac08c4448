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


#: Default ports, for resolving a host before FFmpeg connects (the port does not change the answer).
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


def source_kind(url: str) -> str:
    """'sim', 'file', 'rtsp', 'rtmp', 'hls', 'http-flv' or 'http'; raises InvalidSourceUrl.

    Only the shape of the URL: whether this gateway may open it (files, internal addresses) is
    ``source_policy``'s question."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in url):
        # Parsers disagree on these (Python drops tabs and newlines, FFmpeg keeps them): the host
        # checked here must be the host FFmpeg connects to.
        raise InvalidSourceUrl("the URL contains spaces, control characters or backslashes")
    if url.startswith(SIM_PREFIX):
        if not url[len(SIM_PREFIX) :].strip():
            raise InvalidSourceUrl("sim: needs a scenario name, e.g. sim:cooking")
        return "sim"
    if url.startswith("file://") or url.startswith("/"):
        return "file"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in NETWORK_SCHEMES:
        raise InvalidSourceUrl(
            f"unsupported scheme {scheme or '(none)'!r}: use rtsp, rtmp, http(s), file or sim"
        )
    if not parts.hostname:
        raise InvalidSourceUrl("the URL has no host")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise InvalidSourceUrl("the URL's port is not a number from 0 to 65535") from None
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


def shown_kind(url: str) -> str:
    """``source_kind``, or "invalid" for a stored URL today's rules refuse (registered before them):
    listing cameras must not fail on one of them; opening it will."""
    try:
        return source_kind(url)
    except InvalidSourceUrl:
        return "invalid"


def network_host(url: str) -> tuple[str, int]:
    """(host, port) a network URL connects to; the scheme's default port when none is given."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)


def with_address(url: str, address: str) -> str:
    """The URL with its host replaced by ``address`` (the one the policy checked), userinfo and port
    kept: FFmpeg then connects to that address and resolves nothing itself."""
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    host = f"[{address}]" if ":" in address else address
    netloc = (userinfo + "@" if "@" in parts.netloc else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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
