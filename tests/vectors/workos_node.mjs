#!/usr/bin/env node
// Sign and verify WorkOS webhook deliveries with WorkOS's own Node SDK (@workos-inc/node),
// for tests/sdk_vectors.rs. Nothing here computes an HMAC itself.
//
// usage: node workos_node.mjs < request.json   → prints one JSON object on stdout.
//
// Requests (JSON on stdin; `body` is the raw body as a string):
//   {"op": "sign", "secret": S, "timestamp_ms": MS, "body": B}
//     → {"sdk", "version", "signed_payload", "headers": {"WorkOS-Signature": "t=MS, v1=HEX"}}
//   {"op": "verify", "secret": S, "headers": {...}, "body": B}
//     → {"sdk", "version", "ok": true} or {"sdk", "version", "ok": false, "error": "..."}
//
// The SDK works on the parsed event (what a JSON body parser hands an Express handler) and
// signs `JSON.stringify(event)`: `signed_payload` is that string, so that the caller can
// check it is byte for byte the body it sent. Exit status 3 when the SDK is not installed.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const MISSING_SDK = 3;
const SIGNATURE_HEADER = 'workos-signature';

async function loadSdk() {
  try {
    const sdk = await import('@workos-inc/node');
    const pkg = createRequire(import.meta.url)('@workos-inc/node/package.json');
    return { sdk, version: pkg.version };
  } catch (err) {
    process.stderr.write(
      `the npm package \`@workos-inc/node\` is not installed (${err.message}); ` +
        'run `npm ci` in tests/vectors (scripts/test does it)\n',
    );
    process.exit(MISSING_SDK);
  }
}

function header(headers, name) {
  const found = Object.entries(headers).find(([k]) => k.toLowerCase() === name);
  if (!found) throw new Error(`no ${name} header in the request`);
  return found[1];
}

const req = JSON.parse(readFileSync(0, 'utf8'));
const { sdk, version } = await loadSdk();
// No request is made: the client only holds `webhooks`.
const webhooks = new sdk.WorkOS('sk_test_only').webhooks;
const payload = JSON.parse(req.body);
let out;
if (req.op === 'sign') {
  const timestamp = String(req.timestamp_ms);
  const hash = await webhooks.computeSignature(timestamp, payload, req.secret);
  out = {
    signed_payload: JSON.stringify(payload),
    headers: { 'WorkOS-Signature': `t=${timestamp}, v1=${hash}` },
  };
} else if (req.op === 'verify') {
  const sigHeader = header(req.headers, SIGNATURE_HEADER);
  try {
    await webhooks.verifyHeader({ payload, sigHeader, secret: req.secret });
    out = { ok: true };
  } catch (err) {
    // Only the SDK's own refusal is a verdict; anything else fails the script.
    if (!(err instanceof sdk.SignatureVerificationException)) throw err;
    out = { ok: false, error: `${err.name}: ${err.message}` };
  }
} else {
  throw new Error(`unknown op ${req.op}`);
}
process.stdout.write(`${JSON.stringify({ sdk: '@workos-inc/node', version, ...out })}\n`);
