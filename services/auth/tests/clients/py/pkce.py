"""The official Python client's PKCE sign-in with Google (`flow_type="pkce"`) against Voxanne's
auth through the gateway (ADR 0018). Run by `tests/api/sso.rs`, which plays the browser and the
fake Google:

    python pkce.py <base url, e.g. http://127.0.0.1:PORT/api/auth> <redirect_to>

For each sign-in it prints `AUTHORIZE <url>` and reads the `code` the browser was sent back with
from stdin. Every check prints `STEP <name> <json>`; the last line is `ALL OK`.
"""

import json
import sys

from supabase_auth import SyncGoTrueClient
from supabase_auth.errors import AuthApiError


def step(name, **facts):
    print("STEP", name, json.dumps(facts, sort_keys=True, default=str), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sign_in(c, redirect_to):
    """Starts a sign-in with Google; returns the auth code the browser came back with."""
    res = c.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": redirect_to}})
    print("AUTHORIZE", res.url, flush=True)
    return sys.stdin.readline().strip()


def main():
    url, redirect_to = sys.argv[1], sys.argv[2]

    # A wrong verifier: the client's AuthApiError with GoTrue's bad_code_verifier.
    c = SyncGoTrueClient(url=url, flow_type="pkce", auto_refresh_token=False, persist_session=False)
    code = sign_in(c, redirect_to)
    try:
        c.exchange_code_for_session({"auth_code": code, "code_verifier": "x" * 64})
        raise AssertionError("a wrong code verifier was accepted")
    except AuthApiError as e:
        check(e.code == "bad_code_verifier", f"wrong verifier: {e.code!r}")
        step("wrong_verifier", code=e.code, status=e.status)

    # The real exchange: the client's own verifier (kept by sign_in_with_oauth) → a session.
    c = SyncGoTrueClient(url=url, flow_type="pkce", auto_refresh_token=False, persist_session=False)
    code = sign_in(c, redirect_to)
    res = c.exchange_code_for_session({"auth_code": code})
    check(res.session is not None and res.session.access_token, "the exchange answers a session")
    check(res.session.token_type == "bearer", "token_type")
    check(res.user.app_metadata.get("org_id"), "app_metadata.org_id")
    methods = [m.method for m in c.mfa.get_authenticator_assurance_level().current_authentication_methods]
    check(methods == ["oauth"], f"amr {methods}")
    user = c.get_user().user
    check(user.id == res.user.id, "get_user after the exchange")
    step("exchange", user_id=user.id, email=user.email, amr=methods)
    print("ACCESS_TOKEN", res.session.access_token, flush=True)

    # The same code again (its verifier given explicitly): used once.
    try:
        c.exchange_code_for_session({"auth_code": code, "code_verifier": "y" * 64})
        raise AssertionError("an auth code was exchanged twice")
    except AuthApiError as e:
        check(e.code == "flow_state_not_found", f"reused code: {e.code!r}")
        step("reused_code", code=e.code, status=e.status)
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
