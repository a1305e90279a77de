// The official JS client (`@supabase/auth-js`, pinned in package.json / package-lock.json)
// driving Voxanne's auth through its GoTrue dialect (ADR 0018). Run by tests/api/clients.rs:
//
//     node flow.mjs <base url, e.g. http://127.0.0.1:PORT/api/auth> <email>
//
// Every step prints one `STEP <name> <json>` line; the last line is `ALL OK` and the exit code 0
// only if every check passed.

import { createHmac } from "node:crypto";
import { AuthApiError, GoTrueClient } from "@supabase/auth-js";

const PASSWORD = "correct horse battery staple";
const [url, email] = process.argv.slice(2);

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

// RFC 6238: SHA-1, 6 digits, 30 s.
function totp(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.toUpperCase().replace(/=+$/, "")) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac("sha1", Buffer.from(bytes)).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, "0");
}

const client = () => new GoTrueClient({ url, autoRefreshToken: false, persistSession: false });

const a = client();

// Sign up: `data` becomes user_metadata; the org comes from data.org_name / data.timezone.
let d = ok(
  await a.signUp({
    email,
    password: PASSWORD,
    options: { data: { org_name: "Harbour Physio", timezone: "Europe/London", plan: "pilot" } },
  }),
  "signUp",
);
check(d.session && d.user, "signup with confirmation off answers a session");
check(d.user.aud === "authenticated" && d.user.role === "authenticated", "aud and role");
check(d.user.user_metadata.plan === "pilot", "data became user_metadata");
const orgId = d.user.app_metadata.org_id;
check(orgId && d.user.app_metadata.org_role === "owner", "app_metadata.org_id / org_role");
step("signup", { user_id: d.user.id, org_id: orgId });

// A wrong password: the client's own AuthApiError with GoTrue's code.
{
  const { data, error } = await client().signInWithPassword({ email, password: "not the password" });
  check(!data.session, "no session for a wrong password");
  check(error instanceof AuthApiError, `error type ${error?.name}`);
  check(error.code === "invalid_credentials" && error.status === 400, `code ${error.code} status ${error.status}`);
  step("wrong_password", { error: error.name, code: error.code, status: error.status });
}

// Sign in (and a second device for `others`).
d = ok(await a.signInWithPassword({ email, password: PASSWORD }), "signInWithPassword");
check(d.session.token_type === "bearer" && d.session.expires_in > 0 && d.session.expires_at, "session fields");
const userId = d.user.id;
const b = client();
ok(await b.signInWithPassword({ email, password: PASSWORD }), "second device");
step("sign_in");

// Get the user.
d = ok(await a.getUser(), "getUser");
check(d.user.id === userId && d.user.user_metadata.plan === "pilot", "getUser");
step("get_user", { email: d.user.email });

// Refresh.
const before = ok(await a.getSession(), "getSession").session;
d = ok(await a.refreshSession(), "refreshSession");
check(d.session.refresh_token !== before.refresh_token, "refresh rotates");
step("refresh");

// MFA: enrol -> challenge -> verify -> aal2.
const enrolled = ok(await a.mfa.enroll({ factorType: "totp", friendlyName: "phone" }), "mfa.enroll");
check(enrolled.type === "totp" && enrolled.friendly_name === "phone", "enrol answer");
check(enrolled.totp.qr_code.startsWith("data:image/svg+xml"), "qr code");
const secret = enrolled.totp.secret;
let ch = ok(await a.mfa.challenge({ factorId: enrolled.id }), "mfa.challenge");
check(ch.expires_at > Date.now() / 1000, "expires_at in Unix seconds");
{
  const wrong = totp(secret) === "000000" ? "111111" : "000000";
  const { error } = await a.mfa.verify({ factorId: enrolled.id, challengeId: ch.id, code: wrong });
  check(error instanceof AuthApiError && error.code === "mfa_verification_failed", `wrong code: ${error?.code}`);
}
ch = ok(await a.mfa.challenge({ factorId: enrolled.id }), "mfa.challenge");
ok(await a.mfa.verify({ factorId: enrolled.id, challengeId: ch.id, code: totp(secret) }), "mfa.verify");
const level = ok(await a.mfa.getAuthenticatorAssuranceLevel(), "aal");
check(level.currentLevel === "aal2" && level.nextLevel === "aal2", `aal ${level.currentLevel}`);
step("mfa_verify", { aal: level.currentLevel });

// List factors.
const factors = ok(await a.mfa.listFactors(), "listFactors");
check(factors.totp.length === 1 && factors.totp[0].id === enrolled.id, "the verified totp factor");
step("list_factors", { count: factors.all.length });

// Update user metadata.
d = ok(await a.updateUser({ data: { plan: "pro", seats: 3 } }), "updateUser");
check(d.user.user_metadata.plan === "pro" && d.user.user_metadata.seats === 3, "merged");
d = ok(await a.updateUser({ data: { seats: null } }), "updateUser null");
check(!("seats" in d.user.user_metadata), "a null key is removed");
step("update_user", { user_metadata: d.user.user_metadata });

// Sign out others: this device stays, the other device's session is gone.
{
  const { error } = await a.signOut({ scope: "others" });
  check(!error, `signOut others: ${error?.message}`);
  ok(await a.getUser(), "still signed in");
  const r = await b.refreshSession();
  check(r.error, "the other device's session survived sign out (others)");
  step("sign_out_others", { other_device_code: r.error.code, status: r.error.status });
}
const session = ok(await a.getSession(), "getSession").session;
console.log(`ACCESS_TOKEN ${session.access_token}`);

// Sign out globally.
{
  const { error } = await a.signOut({ scope: "global" });
  check(!error, `signOut global: ${error?.message}`);
  check(!ok(await a.getSession(), "getSession").session, "the client dropped the session");
  const r = await client().refreshSession({ refresh_token: session.refresh_token });
  check(r.error, "the refresh token survived a global sign out");
  step("sign_out_global", { refresh_code: r.error.code, status: r.error.status });
}
// Password reset request: answered like GoTrue (`{}`), the link is mailed.
ok(await client().resetPasswordForEmail(email), "resetPasswordForEmail");
step("recover");
console.log("ALL OK");
