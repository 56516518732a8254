"""The grid workers' one-tap links: ``/r/<push id>.<expiry>.<signature>``.

The signature is HMAC-SHA256 (server secret ``relay.secret``) over the push id and the expiry,
cut to 16 bytes and base64url-encoded: no login is needed, nobody can make a link for another
push or stretch its expiry, and the link carries nothing personal. Once-only is the receipt's
job (``receipts.confirm_relay``): a second tap finds the relay already recorded.
"""
from __future__ import annotations

import base64
import hashlib
import hmac


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(secret: str, push_id: int, expires_epoch: int) -> str:
    payload = f"{push_id}.{expires_epoch}"
    return f"{payload}.{_signature(secret, payload)}"


def read_token(secret: str, token: str) -> tuple[int, int] | None:
    """(push id, expiry epoch) of a genuine token, else None."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(token) > 80:
        return None
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_signature(secret, payload), parts[2]):
        return None
    return int(parts[0]), int(parts[1])


def relay_url(public_url: str, secret: str, push_id: int, expires_epoch: int) -> str:
    return f"{public_url.rstrip('/')}/r/{make_token(secret, push_id, expires_epoch)}"
