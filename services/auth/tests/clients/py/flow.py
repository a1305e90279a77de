"""The official Python client (`supabase-auth`, pinned in requirements.txt) driving Voxanne's auth
through its GoTrue dialect (ADR 0018). Run by `tests/api/clients.rs` against a spawned auth:

    python flow.py <base url, e.g. http://127.0.0.1:PORT/api/auth> <email>

Every step prints one `STEP <name> <json>` line; the last line is `ALL OK` and the exit code 0
only if every check passed. Any exception (the client's own errors included) exits non-zero.
"""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.parse

from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

PASSWORD = "correct horse battery staple"


def step(name, **facts):
    print("STEP", name, json.dumps(facts, sort_keys=True, default=str), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def totp(secret_b32, at=None):
    """RFC 6238: SHA-1, 6 digits, 30 s (what the enrolment URI says)."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    counter = int((at if at is not None else time.time()) // 30)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off : off + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def client(url):
    return SyncGoTrueClient(url=url, auto_refresh_token=False, persist_session=False)


def main():
    url, email = sys.argv[1], sys.argv[2]

    # A weak password: the client's own AuthWeakPasswordError with GoTrue's reasons.
    try:
        client(url).sign_up({"email": email, "password": "short"})
        raise AssertionError("a weak password was accepted")
    except AuthWeakPasswordError as e:
        check(e.reasons == ["length"], f"reasons {e.reasons}")
        step("weak_password", reasons=e.reasons, status=e.status)

    # Sign up: `data` becomes user_metadata; the org comes from data.org_name / data.timezone.
    a = client(url)
    res = a.sign_up(
        {
            "email": email,
            "password": PASSWORD,
            "options": {
                "data": {
                    "org_name": "Sunrise Dental",
                    "timezone": "America/New_York",
                    "plan": "pilot",
                }
            },
        }
    )
    check(res.session is not None, "signup with confirmation off answers a session")
    check(res.user.email == email, "signup user email")
    check(res.user.aud == "authenticated", "aud")
    check(res.user.role == "authenticated", "role")
    check(res.user.user_metadata.get("plan") == "pilot", "data became user_metadata")
    org_id = res.user.app_metadata.get("org_id")
    check(org_id, "app_metadata.org_id")
    check(res.user.app_metadata.get("org_role") == "owner", "app_metadata.org_role")
    check(res.user.identities and res.user.identities[0].provider == "email", "email identity")
    step("signup", user_id=res.user.id, org_id=org_id)

    # A wrong password surfaces as the client's own AuthApiError with GoTrue's code.
    try:
        client(url).sign_in_with_password({"email": email, "password": "not the password"})
        raise AssertionError("a wrong password was accepted")
    except AuthApiError as e:
        check(e.code == "invalid_credentials", f"wrong password code: {e.code!r}")
        check(e.status == 400, f"wrong password status: {e.status}")
        step("wrong_password", error=e.name, code=e.code, status=e.status)

    # Sign in with password (a second device too, for `others` later).
    res = a.sign_in_with_password({"email": email, "password": PASSWORD})
    check(res.session.token_type == "bearer", "token_type")
    check(res.session.expires_in > 0 and res.session.expires_at, "expiry")
    check(res.user.app_metadata.get("org_id") == org_id, "signed in to the signup org")
    b = client(url)
    b.sign_in_with_password({"email": email, "password": PASSWORD})
    step("sign_in", aal=a.mfa.get_authenticator_assurance_level().current_level)

    # Get the user.
    user = a.get_user().user
    check(user.id == res.user.id, "get_user id")
    check(user.user_metadata.get("plan") == "pilot", "get_user metadata")
    step("get_user", email=user.email)

    # Refresh: a new pair; the old refresh token is rotated.
    before = a.get_session()
    refreshed = a.refresh_session()
    check(refreshed.session.refresh_token != before.refresh_token, "refresh rotates")
    check(refreshed.user.id == user.id, "refresh user")
    step("refresh")

    # MFA: enrol -> challenge -> verify with a code computed here -> aal2.
    enrolled = a.mfa.enroll({"factor_type": "totp", "friendly_name": "phone"})
    check(enrolled.type == "totp" and enrolled.friendly_name == "phone", "enrol answer")
    check(enrolled.totp.qr_code.startswith("data:image/svg+xml"), "qr code as the client shows it")
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(enrolled.totp.uri).query)["secret"][0]
    check(secret == enrolled.totp.secret, "the uri carries the secret")
    ch = a.mfa.challenge({"factor_id": enrolled.id})
    check(ch.expires_at > time.time(), "challenge expires_at in Unix seconds")
    try:
        a.mfa.verify({"factor_id": enrolled.id, "challenge_id": ch.id, "code": "000000" if totp(secret) != "000000" else "111111"})
        raise AssertionError("a wrong code was accepted")
    except AuthApiError as e:
        check(e.code == "mfa_verification_failed", f"wrong code: {e.code!r}")
    ch = a.mfa.challenge({"factor_id": enrolled.id})
    verified = a.mfa.verify({"factor_id": enrolled.id, "challenge_id": ch.id, "code": totp(secret)})
    check(verified.access_token and verified.refresh_token, "verify answers a session")
    level = a.mfa.get_authenticator_assurance_level()
    check(level.current_level == "aal2", f"aal after verify: {level.current_level}")
    check(level.next_level == "aal2", "next level")
    methods = [m.method for m in level.current_authentication_methods]
    check("password" in methods, f"amr methods {methods}")
    step("mfa_verify", aal=level.current_level, amr=methods)

    # List factors (the client reads them from GET /user).
    factors = a.mfa.list_factors()
    check([f.id for f in factors.totp] == [enrolled.id], "the verified totp factor is listed")
    check(factors.all[0].status == "verified", "verified status")
    step("list_factors", count=len(factors.all))

    # Update user metadata: set one key, remove another.
    updated = a.update_user({"data": {"plan": "pro", "seats": 3}}).user
    check(updated.user_metadata == {"org_name": "Sunrise Dental", "timezone": "America/New_York", "plan": "pro", "seats": 3}, f"merged metadata {updated.user_metadata}")
    updated = a.update_user({"data": {"seats": None}}).user
    check("seats" not in updated.user_metadata, "a null key is removed")
    check(a.get_user().user.user_metadata.get("plan") == "pro", "metadata persisted")
    step("update_user", user_metadata=updated.user_metadata)

    # Sign out others: this device stays signed in, the other device's refresh token is dead.
    a.sign_out({"scope": "others"})
    check(a.get_user().user.id == user.id, "this device is still signed in")
    try:
        b.refresh_session()
        raise AssertionError("the other device's session survived sign out (others)")
    except AuthApiError as e:
        step("sign_out_others", other_device_code=e.code, status=e.status)
    final_token = a.get_session().access_token
    print("ACCESS_TOKEN", final_token, flush=True)

    # Sign out globally: the session is gone, its refresh token refused.
    refresh = a.get_session().refresh_token
    a.sign_out({"scope": "global"})
    check(a.get_session() is None, "the client dropped the session")
    try:
        client(url).refresh_session(refresh)
        raise AssertionError("the refresh token survived a global sign out")
    except AuthApiError as e:
        step("sign_out_global", refresh_code=e.code, status=e.status)
    # Password reset request: answered like GoTrue (`{}`), the link is mailed.
    client(url).reset_password_for_email(email)
    step("recover")
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
