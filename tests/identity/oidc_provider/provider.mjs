// A real OpenID Connect provider (panva/oidc-provider) for the sign-in tests, on loopback.
//
// Configured by environment variables set by tests/identity/oidc_support.py:
//   OP_PORT       the port to listen on (127.0.0.1)
//   OP_CLIENTS    JSON list of oidc-provider client metadata
//   OP_ACCOUNTS   JSON object {accountId: {claim: value}}
//   OP_ID_TTL     ID token lifetime in seconds (default 600)
// The login page asks for an account id (no password: the accounts are test fixtures) and
// consent is given automatically for every scope the client asked for.
import http from "node:http";
import Provider from "oidc-provider";

const port = Number(process.env.OP_PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OP_CLIENTS || "[]");
const accounts = JSON.parse(process.env.OP_ACCOUNTS || "{}");
const idTtl = Number(process.env.OP_ID_TTL || 600);

const extraClaims = [
  "given_name#ar",
  "family_name#ar",
  "place_of_birth",
  "nationalities",
];

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
  claims: {
    openid: ["sub"],
    profile: ["given_name", "family_name", "birthdate", "gender", ...extraClaims],
    cnie: ["cnie"],
  },
  conformIdTokenClaims: false,
  ttl: { IdToken: idTtl, AccessToken: 600, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ["test-only-cookie-key"] },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});

function page(res, status, body) {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.end(`<!doctype html><html lang="en"><title>Test identity provider</title>${body}</html>`);
}

async function readForm(req) {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, "<p>wrong interaction</p>");
  if (req.method === "GET") {
    return page(
      res,
      200,
      `<form method="post" action="/interaction/${uid}/login">
         <label>Account <input name="login"></label><button>Sign in</button></form>`,
    );
  }
  const form = await readForm(req);
  if (action === "abort") {
    return provider.interactionFinished(
      req, res, { error: "access_denied", error_description: "The person refused." },
      { mergeWithLastSubmission: false },
    );
  }
  const accountId = form.get("login") || "";
  if (!accounts[accountId]) return page(res, 200, "<p>unknown account</p>");
  const { params } = details;
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || "openid"));
  const grantId = await grant.save();
  return provider.interactionFinished(
    req, res, { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const handler = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const match = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|abort))?$/);
  if (!match) return handler(req, res);
  try {
    await interaction(req, res, match[1], match[2] || "");
  } catch (error) {
    page(res, 500, `<p>${String(error)}</p>`);
  }
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`ready ${issuer}\n`);
});
