// Drives the official MCP TypeScript SDK client (v2) through Tessera:
// discovery from the MCP server's 401, registration (dynamic, or a client ID
// metadata document URL), the real sign-in and consent pages submitted
// headlessly, a tool call, a 403 insufficient_scope step-up, and a refresh.
//
// usage: node mcp_client.mjs MCP_URL dcr|cimd USERNAME PASSWORD [CLIENT_ID_URL]
// Prints one JSON object with what happened on stdout; exits non-zero on failure.
import { Client, StreamableHTTPClientTransport, UnauthorizedError, auth } from '@modelcontextprotocol/client';

const [mcpUrl, mode, username, password, documentUrl] = process.argv.slice(2);
const REDIRECT = 'http://127.0.0.1:45679/callback';
const log = (...a) => console.error('[interop]', ...a);

// ---- a tiny browser: cookies, manual redirects, the page's real forms ----
const cookies = new Map();
async function browse(url, body) {
  const headers = { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(url, { method: body ? 'POST' : 'GET', body, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    cookies.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}
const decode = (s) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(+n)).replace(/&quot;/g, '"')
  .replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z-]+)(?:="([^"]*)")?/g)) out[m[1].toLowerCase()] = m[2] === undefined ? '' : decode(m[2]);
  return out;
}
function pageForm(html) {
  const form = html.match(/<form\b[^>]*>/i);
  if (!form) throw new Error('no form on the page: ' + html.slice(0, 300));
  const fields = [], boxes = [];
  for (const m of html.matchAll(/<input\b[^>]*>/gi)) {
    const a = attrs(m[0]);
    if (!a.name) continue;
    if (a.type === 'checkbox') boxes.push({ name: a.name, value: a.value, checked: 'checked' in a });
    else fields.push([a.name, a.value ?? '']);
  }
  return { action: attrs(form[0]).action, fields, boxes };
}
let untickNext = [];
const seen = { consentPages: [] };
async function authorizeHeadlessly(authorizationUrl) {
  let res = await browse(authorizationUrl.toString());
  for (let step = 0; step < 8; step++) {
    const location = res.headers.get('location');
    if (location?.startsWith(REDIRECT)) return new URL(location);
    if (location) { res = await browse(new URL(location, authorizationUrl).toString()); continue; }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`authorization page answered ${res.status}: ${html.slice(0, 300)}`);
    const form = pageForm(html);
    const params = new URLSearchParams(form.fields);
    if (form.fields.some(([n]) => n === 'password')) {
      params.set('username', username);
      params.set('password', password);
    } else {
      seen.consentPages.push(form.boxes.map((b) => b.value));
      for (const b of form.boxes) if (b.checked && !untickNext.includes(b.value)) params.append(b.name, b.value);
      params.set('decision', 'allow');
      untickNext = [];
    }
    res = await browse(new URL(form.action, authorizationUrl).toString(), params.toString());
  }
  throw new Error('the authorization did not come back to the redirect URI');
}

// ---- the SDK's OAuth provider, in memory ----
class Provider {
  constructor() {
    this.client = mode === 'cimd' ? { client_id: documentUrl } : undefined;
    this.tokenHistory = [];
  }
  get redirectUrl() { return REDIRECT; }
  get clientMetadata() {
    return { client_name: 'Tessera interop client', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.current; }
  saveTokens(t) { this.current = t; this.tokenHistory.push(t); }
  async redirectToAuthorization(url) { this.callback = await authorizeHeadlessly(url); }
  saveDiscoveryState(s) { this.discovery = s; }
  discoveryState() { return this.discovery; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.current = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}
const provider = new Provider();

async function connect() {
  for (let attempt = 0; attempt < 2; attempt++) {
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    const client = new Client({ name: 'tessera-interop', version: '1.0.0' });
    try {
      await client.connect(transport);
      return { client, transport };
    } catch (e) {
      if (!(e instanceof UnauthorizedError) || !provider.callback) throw e;
      await transport.finishAuth(provider.callback.searchParams);
      provider.callback = undefined;
    }
  }
  throw new Error('could not connect after authorizing');
}

/** Run a call; if the SDK had to send the person to authorize (step-up), finish and retry once. */
async function withAuth(conn, fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof UnauthorizedError) || !provider.callback) throw e;
    await conn.transport.finishAuth(provider.callback.searchParams);
    provider.callback = undefined;
    return await fn();
  }
}

const text = (r) => r.content.map((c) => c.text).join('');
const scopeOf = (t) => t?.scope ?? '';

try {
  untickNext = ['mcp:tools:email:send']; // the person grants less than asked at first
  const conn = await connect();
  const firstScope = scopeOf(provider.current);
  const tools = (await conn.client.listTools()).tools.map((t) => t.name).sort();
  const weather = text(await conn.client.callTool({ name: 'weather', arguments: { city: 'Paris' } }));
  const email = text(await withAuth(conn, () =>
    conn.client.callTool({ name: 'email_send', arguments: { to: 'bob@example.com', subject: 'hi', body: 'hello' } })));
  const steppedUpScope = scopeOf(provider.current);
  const beforeRefresh = provider.current.refresh_token;
  const refreshed = await auth(provider, { serverUrl: new URL(mcpUrl) });
  const afterRefresh = provider.current.refresh_token;
  const again = text(await conn.client.callTool({ name: 'weather', arguments: { city: 'Oslo' } }));
  await conn.client.close();
  console.log(JSON.stringify({
    client_id: provider.client?.client_id, tools, weather, email, again, firstScope, steppedUpScope,
    refreshResult: refreshed, refreshRotated: Boolean(beforeRefresh && afterRefresh && beforeRefresh !== afterRefresh),
    consentPages: seen.consentPages, tokenResponses: provider.tokenHistory.length,
  }));
} catch (e) {
  log('FAILED:', e?.stack ?? e);
  process.exit(1);
}
