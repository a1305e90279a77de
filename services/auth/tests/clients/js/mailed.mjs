// The official JS client through GoTrue's mailed-token routes of Voxanne's auth (ADR 0018), with
// signup confirmation on. Run by tests/api/clients.rs, which reads the mail outbox:
//
//     node mailed.mjs <base url, e.g. http://127.0.0.1:PORT/api/auth> <email>
//
// When it needs a mailed token it prints `MAIL <kind> <email>` and reads the token (or nonce)
// from stdin. Every check prints `STEP <name> <json>`; the last line is `ALL OK`.

import { createInterface } from "node:readline";
import { AuthApiError, GoTrueClient } from "@supabase/auth-js";

const PASSWORD = "correct horse battery staple";
const NEW = "a brand new passphrase";
const NEWER = "an even newer passphrase";
const [url, email] = process.argv.slice(2);
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

async function mail(kind) {
  console.log(`MAIL ${kind} ${email}`);
  const { value } = await lines.next();
  return value.trim();
}

const client = () => new GoTrueClient({ url, autoRefreshToken: false, persistSession: false });

const a = client();
let d = ok(await a.signUp({ email, password: PASSWORD, options: { data: { org_name: "Mailed Clinic" } } }), "signUp");
check(!d.session && d.user.email === email, "a pending signup: the user, no session");
ok(await a.resend({ type: "signup", email }), "resend");
step("resend");

d = ok(await a.verifyOtp({ type: "signup", token_hash: await mail("verify_email") }), "verifyOtp");
check(d.session && d.user.email_confirmed_at, "verify answers a session");
step("verify_signup");

ok(await a.reauthenticate(), "reauthenticate");
{
  const nonce = await mail("reauthentication");
  const { error } = await a.updateUser({ password: NEW, nonce: nonce === "000000" ? "111111" : "000000" });
  check(error instanceof AuthApiError && error.code === "reauthentication_not_valid", `wrong nonce: ${error?.code}`);
}
ok(await a.reauthenticate(), "reauthenticate");
d = ok(await a.updateUser({ password: NEW, nonce: await mail("reauthentication") }), "updateUser");
check(d.user.email === email, "updateUser answer");
ok(await client().signInWithPassword({ email, password: NEW }), "sign in with the new password");
step("reauthenticate_password");

ok(await client().resetPasswordForEmail(email), "resetPasswordForEmail");
const token = await mail("recovery");
d = ok(await client().verifyOtp({ type: "recovery", token_hash: token, password: NEWER }), "verifyOtp recovery");
check(d.session, "recovery answers a session");
{
  const { error } = await client().verifyOtp({ type: "recovery", token_hash: token, password: NEWER });
  check(error instanceof AuthApiError && error.code === "otp_expired" && error.status === 403, `reused link: ${error?.code}`);
}
ok(await client().signInWithPassword({ email, password: NEWER }), "sign in with the newer password");
step("recovery");
console.log("ALL OK");
process.exit(0);
