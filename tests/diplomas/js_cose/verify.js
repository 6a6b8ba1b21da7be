// Verifies a diploma QR text with libraries we did not write: base45 (npm), node's zlib,
// cose-js (COSE_Sign1, ES256 through elliptic) and cbor (npm). Reads a JSON object
// {"text": "BACD1:...", "jwk": {kty, crv, x, y, ...}} on stdin; prints a JSON verdict.
'use strict';
const zlib = require('zlib');
const base45 = require('base45');
const cose = require('cose-js');
const cbor = require('cbor');

function b64url (text) {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

async function main () {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const prefix = 'BACD1:';
  if (!input.text.startsWith(prefix)) throw new Error('bad prefix');
  const compressed = Buffer.from(base45.decode(input.text.slice(prefix.length)));
  const message = zlib.inflateSync(compressed);
  const payload = await cose.sign.verify(message, {
    key: { x: b64url(input.jwk.x), y: b64url(input.jwk.y) }
  });
  const claims = cbor.decodeFirstSync(payload);
  const protectedHeader = cbor.decodeFirstSync(cbor.decodeFirstSync(message).value[0]);
  return {
    ok: true,
    alg: protectedHeader.get(1),
    kid: protectedHeader.get(4).toString('base64url'),
    claims: Object.fromEntries(claims)
  };
}

main().then(
  (verdict) => { process.stdout.write(JSON.stringify(verdict)); },
  (error) => { process.stdout.write(JSON.stringify({ ok: false, error: String(error.message || error) })); process.exitCode = 1; }
);
