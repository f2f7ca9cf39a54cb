"""The seed's HMAC enrollment request, client side (the seed shipped none). Standard library only,
so a node can use this file alone:

    python3 hmac_enroll.py https://portal MINION_ID < secret_file     # prints the portal's answer

The request is {minion_id, timestamp, nonce, signature} with signature = hex HMAC-SHA256 of
`minion_id|timestamp|nonce` under the shared secret; the portal accepts it within a 5-minute
window, each nonce once (POST /api/v1/salt/enroll/hmac/).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.request

PATH = "/api/v1/salt/enroll/hmac/"


def message(minion_id: str, timestamp: int, nonce: str) -> bytes:
    return f"{minion_id}|{int(timestamp)}|{nonce}".encode()


def signature(secret: str, minion_id: str, timestamp: int, nonce: str) -> str:
    return hmac.new(secret.encode(), message(minion_id, timestamp, nonce), hashlib.sha256).hexdigest()


def signed_request(secret: str, minion_id: str, *, timestamp: int | None = None, nonce: str | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {"minion_id": minion_id, "timestamp": timestamp, "nonce": nonce,
            "signature": signature(secret, minion_id, timestamp, nonce)}


def enroll(portal_url: str, secret: str, minion_id: str, *, timeout: float = 15.0, cafile: str | None = None) -> dict:
    """POST a fresh signed request; the portal's answer (master key, settings, report token)."""
    import ssl

    body = json.dumps(signed_request(secret, minion_id)).encode()
    request = urllib.request.Request(portal_url.rstrip("/") + PATH, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310 (https/http given)
        return json.load(answer)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: hmac_enroll.py PORTAL_URL MINION_ID < SECRET")
    print(json.dumps(enroll(sys.argv[1], sys.stdin.readline().strip(), sys.argv[2])))
