#!/usr/bin/env python3
"""Sign and verify webhook deliveries with the senders' own published Python SDKs.

Used by tests/sdk_vectors.rs, so that provisiond's signature code is checked against
vectors it did not produce. Nothing here computes an HMAC itself: every signature and
every verdict comes from the SDK named in the request.

usage: sdk_vectors.py < request.json   → prints one JSON object on stdout.

Requests (JSON on stdin; `body` is the raw body as a UTF-8 string, `headers` an object):
  {"sdk": "standardwebhooks" | "svix", "op": "sign", "secret": S, "msg_id": ID,
   "timestamp": UNIX_SECONDS, "body": B}
      → {"sdk", "version", "headers": {...}}  (standardwebhooks: webhook-* headers,
        svix: svix-* headers, as a Svix sender sends them)
  {"sdk": "finch", "op": "sign", ...same fields...}
      → Finch's SDK cannot sign: the standardwebhooks SDK signs with Finch's plain base64
        secret under Finch-* headers, and the result is returned only once Finch's own
        `verify_signature` has accepted it ("finch_sdk_accepted": true).
  {"sdk": "standardwebhooks" | "svix" | "finch" | "workos", "op": "verify",
   "secret": S, "headers": {...}, "body": B}
      → {"sdk", "version", "ok": true} or {"sdk", "version", "ok": false, "error": "..."}
      (workos reads the `WorkOS-Signature` header and verifies with
       `WorkOSClient.webhooks.verify_header`; finch with `Finch.webhooks.verify_signature`)

Exit status 3 with a message on stderr when the SDK is not installed.
"""
import importlib
import importlib.metadata
import json
import sys
from datetime import datetime, timezone

# The import name and the PyPI distribution of each SDK.
SDKS = {
    "standardwebhooks": ("standardwebhooks", "standardwebhooks"),
    "svix": ("svix.webhooks", "svix"),
    "finch": ("finch", "finch-api"),
    "workos": ("workos", "workos"),
}

MISSING_SDK = 3


def load(sdk: str):
    module, dist = SDKS[sdk]
    try:
        loaded = importlib.import_module(module)
    except ImportError as err:
        print(
            f"the PyPI package `{dist}` is not installed ({err}); install the SDKs with "
            "`python3 -m pip install -r tests/vectors/requirements.txt` "
            "(scripts/test does it)",
            file=sys.stderr,
        )
        sys.exit(MISSING_SDK)
    return loaded, importlib.metadata.version(dist)


def standard_webhook(sdk: str, secret: str):
    if sdk == "svix":
        svix_webhooks, _ = load("svix")
        return svix_webhooks.Webhook(secret)
    standardwebhooks, _ = load("standardwebhooks")
    return standardwebhooks.Webhook(secret)


def sign(req: dict) -> dict:
    sdk = req["sdk"]
    msg_id, ts, body = req["msg_id"], int(req["timestamp"]), req["body"]
    when = datetime.fromtimestamp(ts, tz=timezone.utc)
    if sdk in ("standardwebhooks", "svix"):
        signature = standard_webhook(sdk, req["secret"]).sign(msg_id, when, body)
        prefix = "svix" if sdk == "svix" else "webhook"
        headers = {
            f"{prefix}-id": msg_id,
            f"{prefix}-timestamp": str(ts),
            f"{prefix}-signature": signature,
        }
        return {"headers": headers}
    if sdk == "finch":
        signature = standard_webhook("standardwebhooks", req["secret"]).sign(msg_id, when, body)
        headers = {
            "Finch-Event-Id": msg_id,
            "Finch-Timestamp": str(ts),
            "Finch-Signature": signature,
        }
        verdict = verify({"sdk": "finch", "secret": req["secret"], "headers": headers, "body": body})
        if not verdict["ok"]:
            raise SystemExit(f"Finch's SDK refused the Standard Webhooks signature: {verdict['error']}")
        return {"headers": headers, "finch_sdk_accepted": True}
    raise SystemExit(f"{sdk} cannot sign")


def verify(req: dict) -> dict:
    """The SDK's verdict; only the SDK's own refusal counts as `ok: false`, anything else
    (a bug here, a missing header name) fails the script."""
    sdk, secret, headers, body = req["sdk"], req["secret"], req["headers"], req["body"]
    if sdk in ("standardwebhooks", "svix"):
        module, _ = load(sdk)
        webhook = module.Webhook(secret)
        check = lambda: webhook.verify(body, headers)  # noqa: E731
        refusal = module.WebhookVerificationError
    elif sdk == "finch":
        finch, _ = load("finch")
        # No request is made: the client only holds `webhooks`.
        client = finch.Finch(access_token="test-only")
        check = lambda: client.webhooks.verify_signature(body, headers, secret=secret)  # noqa: E731
        refusal = ValueError  # what `verify_signature` raises for every refusal
    elif sdk == "workos":
        workos, _ = load("workos")
        client = workos.WorkOSClient(api_key="sk_test_only", client_id="client_test_only")
        signature = next(v for k, v in headers.items() if k.lower() == "workos-signature")
        check = lambda: client.webhooks.verify_header(  # noqa: E731
            event_body=body, event_signature=signature, secret=secret
        )
        refusal = ValueError  # what `verify_header` raises for every refusal
    else:
        raise SystemExit(f"unknown sdk {sdk}")
    try:
        check()
    except refusal as err:
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}
    return {"ok": True}


def main() -> None:
    req = json.load(sys.stdin)
    sdk = req["sdk"]
    if sdk not in SDKS:
        raise SystemExit(f"unknown sdk {sdk}; expected one of {sorted(SDKS)}")
    _, version = load(sdk)
    if req["op"] == "sign":
        out = sign(req)
    elif req["op"] == "verify":
        out = verify(req)
    else:
        raise SystemExit(f"unknown op {req['op']}")
    print(json.dumps({"sdk": sdk, "version": version, **out}))


if __name__ == "__main__":
    main()
