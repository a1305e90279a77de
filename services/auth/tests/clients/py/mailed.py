"""The official Python client through GoTrue's mailed-token routes of Voxanne's auth (ADR 0018),
with signup confirmation on. Run by `tests/api/clients.rs`, which reads the mail outbox:

    python mailed.py <base url, e.g. http://127.0.0.1:PORT/api/auth> <email>

When it needs a mailed token it prints `MAIL <kind> <email>` and reads the token (or nonce) from
stdin. Every check prints `STEP <name> <json>`; the last line is `ALL OK`.
"""

import json
import sys

from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError

PASSWORD = "correct horse battery staple"
NEW = "a brand new passphrase"
NEWER = "an even newer passphrase"


def step(name, **facts):
    print("STEP", name, json.dumps(facts, sort_keys=True, default=str), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def mail(kind, email):
    print("MAIL", kind, email, flush=True)
    return sys.stdin.readline().strip()


def client(url):
    return SyncGoTrueClient(url=url, auto_refresh_token=False, persist_session=False)


def main():
    url, email = sys.argv[1], sys.argv[2]
    a = client(url)
    res = a.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"org_name": "Mailed Clinic"}}})
    check(res.session is None and res.user.email == email, "a pending signup: the user, no session")
    a.resend({"type": "signup", "email": email})
    step("resend")

    # The confirmation link's token as GoTrue's token_hash: a session.
    res = a.verify_otp({"type": "signup", "token_hash": mail("verify_email", email)})
    check(res.session and res.session.access_token, "verify answers a session")
    check(res.user.email_confirmed_at, "the email is confirmed")
    step("verify_signup", amr=[m.method for m in a.mfa.get_authenticator_assurance_level().current_authentication_methods])

    # Reauthenticate: a mailed nonce; a wrong one is refused (and spends it), a fresh one works.
    a.reauthenticate()
    nonce = mail("reauthentication", email)
    try:
        a.update_user({"password": NEW, "nonce": "000000" if nonce != "000000" else "111111"})
        raise AssertionError("a wrong nonce was accepted")
    except AuthApiError as e:
        check(e.code == "reauthentication_not_valid", f"wrong nonce: {e.code!r}")
    a.reauthenticate()
    user = a.update_user({"password": NEW, "nonce": mail("reauthentication", email)}).user
    check(user.email == email, "update_user answer")
    client(url).sign_in_with_password({"email": email, "password": NEW})
    step("reauthenticate_password")

    # Recovery: the link's token and the new password in one verify.
    client(url).reset_password_for_email(email)
    token = mail("recovery", email)
    r = client(url)
    res = r.verify_otp({"type": "recovery", "token_hash": token, "password": NEWER})
    check(res.session and res.session.access_token, "recovery answers a session")
    try:
        client(url).verify_otp({"type": "recovery", "token_hash": token, "password": NEWER})
        raise AssertionError("a recovery link was used twice")
    except AuthApiError as e:
        check(e.code == "otp_expired" and e.status == 403, f"reused link: {e.code!r}")
    client(url).sign_in_with_password({"email": email, "password": NEWER})
    step("recovery")
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
