#!/usr/bin/env python3
"""Sign a webhook body the way each sender does, independently of provisiond's Rust code.

usage: sign.py KIND SECRET TIMESTAMP MSG_ID < body   → prints the headers as JSON.
TIMESTAMP is Unix seconds (WorkOS uses it times 1000, in milliseconds); MSG_ID is used by
the schemes that carry an event id in a header (standard-webhooks, finch) and ignored by
the others. KIND is one of standard-webhooks, finch, merge, workos, bamboohr, gusto, hibob,
deel.
"""
import base64
import hashlib
import hmac
import json
import sys


def mac(key: bytes, data: bytes, algo=hashlib.sha256) -> bytes:
    return hmac.new(key, data, algo).digest()


def main() -> None:
    kind, secret, ts, msg_id = sys.argv[1:5]
    body = sys.stdin.buffer.read()
    if kind == "standard-webhooks":
        key = base64.b64decode(secret.removeprefix("whsec_"))
        sig = base64.b64encode(mac(key, f"{msg_id}.{ts}.".encode() + body)).decode()
        headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": f"v1,{sig}"}
    elif kind == "finch":
        # Finch's SDK: the secret is plain base64 (no whsec_), Finch-branded headers.
        key = base64.b64decode(secret)
        sig = base64.b64encode(mac(key, f"{msg_id}.{ts}.".encode() + body)).decode()
        headers = {"Finch-Event-Id": msg_id, "Finch-Timestamp": ts, "Finch-Signature": f"v1,{sig}"}
    elif kind == "merge":
        sig = base64.urlsafe_b64encode(mac(secret.encode(), body)).decode()
        headers = {"X-Merge-Webhook-Signature": sig}
    elif kind == "workos":
        t = str(int(ts) * 1000)
        sig = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {"WorkOS-Signature": f"t={t}, v1={sig}"}
    elif kind == "bamboohr":
        # The timestamp header is appended to the body before signing; hex digest.
        sig = hmac.new(secret.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
        headers = {"X-BambooHR-Signature": sig, "X-BambooHR-Timestamp": ts}
    elif kind == "gusto":
        # Keyed with the subscription's verification token; hex digest of the body.
        sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Gusto-Signature": sig}
    elif kind == "hibob":
        sig = base64.b64encode(mac(secret.encode(), body, hashlib.sha512)).decode()
        headers = {"Bob-Signature": sig}
    elif kind == "deel":
        # The HTTP method is prepended to the body; hex digest.
        sig = hmac.new(secret.encode(), b"POST" + body, hashlib.sha256).hexdigest()
        headers = {"x-deel-signature": sig}
    else:
        raise SystemExit(f"unknown kind {kind}")
    print(json.dumps(headers))


if __name__ == "__main__":
    main()
