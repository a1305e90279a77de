// The official JS client's PKCE sign-in with Google (`flowType: "pkce"`) against Voxanne's auth
// through the gateway (ADR 0018). Run by tests/api/sso.rs, which plays the browser and the fake
// Google:
//
//     node pkce.mjs <base url, e.g. http://127.0.0.1:PORT/api/auth> <redirect_to>
//
// For each sign-in it prints `AUTHORIZE <url>` and reads the `code` the browser was sent back
// with from stdin. Every check prints `STEP <name> <json>`; the last line is `ALL OK`.

import { createInterface } from "node:readline";
import { GoTrueClient } from "@supabase/auth-js";

const [url, redirectTo] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function step(name, facts = {}) {
  console.log(`STEP ${name} ${JSON.stringify(facts)}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

function ok({ data, error }, what) {
  if (error) throw new Error(`${what}: ${error.name} ${error.status} ${error.code}: ${error.message}`);
  return data;
}

const client = () =>
  new GoTrueClient({ url, flowType: "pkce", autoRefreshToken: false, persistSession: false });

async function signIn(c) {
  const d = ok(
    await c.signInWithOAuth({ provider: "google", options: { redirectTo, skipBrowserRedirect: true } }),
    "signInWithOAuth",
  );
  console.log(`AUTHORIZE ${d.url}`);
  const { value } = await lines.next();
  return value.trim();
}

const c = client();
const code = await signIn(c);
const d = ok(await c.exchangeCodeForSession(code), "exchangeCodeForSession");
check(d.session && d.session.access_token && d.session.token_type === "bearer", "a session");
check(d.user.app_metadata.org_id, "app_metadata.org_id");
const aal = ok(await c.mfa.getAuthenticatorAssuranceLevel(), "aal");
check(aal.currentLevel === "aal1", `aal ${aal.currentLevel}`);
const u = ok(await c.getUser(), "getUser");
check(u.user.id === d.user.id, "getUser after the exchange");
step("exchange", { user_id: u.user.id, email: u.user.email });
console.log(`ACCESS_TOKEN ${d.session.access_token}`);
// The same code from another client (no verifier stored there): the client refuses before
// asking; from this one the verifier was consumed by the exchange. Refused either way.
{
  const { error } = await client().exchangeCodeForSession(code);
  check(error, "an auth code was exchanged twice");
  step("reused_code", { error: error.name });
}
check(!(await c.getSession()).error, "session kept");
console.log("ALL OK");
process.exit(0);
