// A real OpenID provider for Tessera's upstream sign-in tests: oidc-provider
// (certified by the OpenID Foundation) on loopback, on a port of its own.
//
//   node oidc_provider.mjs '<json>'
//
// where <json> is {"redirect_uri": "...", "clients": [{"client_id", "client_secret",
// "tamper": bool}]}. It prints one line, {"issuer": "http://127.0.0.1:PORT"},
// once it listens, and serves until killed.
//
// People sign in through the provider's own development login form (any
// password; the login name picks the account below). Consent is granted
// without a prompt. A client with "tamper": true gets ID tokens whose payload
// was altered after signing (as a man in the middle would): Tessera must
// refuse them.
import http from 'node:http';
import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');

const accounts = {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['staff', 'mcp-admins'] },
  bob: { email: 'bob@example.com', email_verified: true, groups: ['staff'] },
  eve: { email: 'eve@elsewhere.test', email_verified: true, groups: ['staff'] },
  carol: { email: 'carol@example.com', email_verified: true, groups: ['contractors'] },
};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: options.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: [options.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: `${id}-sub`, preferred_username: id, ...account };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['tessera-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
});

const tampered = new Set(options.clients.filter((c) => c.tamper).map((c) => c.client_id));
provider.use(async (ctx, next) => {
  await next();
  const clientId = ctx.oidc?.client?.clientId;
  if (ctx.path === '/token' && tampered.has(clientId) && ctx.body?.id_token) {
    const [header, payload, signature] = ctx.body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.sub = 'alice-sub';
    claims.groups = ['mcp-admins'];
    const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
    ctx.body = { ...ctx.body, id_token: `${header}.${forged}.${signature}` };
  }
});

server.on('request', provider.callback());
// The test may stop reading: never die of a closed pipe.
process.stdout.on('error', () => {});
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
