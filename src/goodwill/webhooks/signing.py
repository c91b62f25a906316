"""Standard Webhooks signatures (https://www.standardwebhooks.com).

The secret is ``whsec_`` + base64 of 32 random bytes. Each message is signed as
``base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}"))`` and sent as
``webhook-signature: v1,<signature>``; while a rotated-out secret is still valid, a second
``v1,`` signature made with it follows, separated by a space.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.digest(key, b"%s.%d.%s" % (msg_id.encode(), timestamp, body), "sha256")
    return "v1," + base64.b64encode(digest).decode()


def signature_header(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(sign(key, msg_id, timestamp, body) for key in keys)


def headers(
    keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes, content_type: str
) -> dict[str, str]:
    return {
        "content-type": content_type,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }
