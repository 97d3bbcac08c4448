"""The one spelling of a signed URL's expiry (``?exp=``): decimal digits, no sign, no leading zero,
no space, within range.

``int()`` also reads ``+1700000000``, ``01700000000``, `` 1700000000`` and ``1_700_000_000``: each a
different URL for the same signature, so a cache, a log filter or a CDN rule keyed on the URL sees
a new link that is still valid. Object-store links and play URLs accept only the canonical form.
"""

from __future__ import annotations

import re

#: 9999-12-31T23:59:59Z: beyond it an expiry is not a time, it is a way to make a link eternal.
MAX_EXPIRY = 253_402_300_799
_CANONICAL = re.compile(r"[1-9][0-9]{0,11}", re.ASCII)


def parse_expiry(text: object) -> int | None:
    """The expiry as an int when ``text`` is its canonical decimal form; None otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not _CANONICAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_EXPIRY else None
