#!/usr/bin/env python3
"""Dependency rules of the workspace (make lint), checked over `cargo metadata`:

1. `bus` is transport only: it does not depend on the HTTP/application frame (actix-web,
   actix-http, tracing-actix-web, utoipa, runtime) nor on any service — and no actix crate is in
   its normal dependency tree at all (`cargo tree -p bus -e normal`: servicekit and tenancy are
   used without their `http` feature).
2. Services share no code: no crate under services/ depends on another one (normal, dev or
   build dependency). Cross-service tests live in crates/platform-tests.
3. Only test code depends on testkit / platform-tests (dev-dependencies).

`--self-test` runs the rules on metadata with a deliberate violation of each and fails unless
every violation is reported (so the check itself can fail).
"""
import json
import subprocess
import sys

BUS_FORBIDDEN = {"actix-web", "actix-http", "tracing-actix-web", "utoipa", "runtime"}
TEST_ONLY = {"testkit", "platform-tests"}
BUS_FORBIDDEN_ANYWHERE = ("actix-web", "actix-http", "actix-server", "actix-rt", "tracing-actix-web")


def tree_violations(tree):
    """Names in `cargo tree -p bus -e normal --prefix none` output that bus must not pull in."""
    found = set()
    for line in tree.splitlines():
        name = line.split(" ")[0]
        if name in BUS_FORBIDDEN_ANYWHERE:
            found.add(f"bus pulls in {name} (transitively): use servicekit/tenancy without `http`")
    return sorted(found)


def bus_tree():
    return subprocess.run(["cargo", "tree", "-p", "bus", "-e", "normal", "--prefix", "none"],
                          check=True, capture_output=True, text=True).stdout


def violations(meta):
    members = {p["id"] for p in meta["packages"]} if "workspace_members" not in meta else set(meta["workspace_members"])
    pkgs = [p for p in meta["packages"] if p["id"] in members]
    services = {p["name"] for p in pkgs if "/services/" in p["manifest_path"].replace("\\", "/")}
    found = []
    for p in pkgs:
        for d in p["dependencies"]:
            kind = d.get("kind") or "normal"
            name = d["name"]
            if p["name"] == "bus" and kind != "dev" and (name in BUS_FORBIDDEN or name in services):
                found.append(f"bus depends on {name} ({kind}): bus is transport only")
            if p["name"] in services and name in services:
                found.append(f"service {p['name']} depends on service {name} ({kind}): services share no code")
            if name in TEST_ONLY and kind != "dev" and p["name"] not in TEST_ONLY:
                found.append(f"{p['name']} depends on {name} as a {kind} dependency: test code only")
    return found


def metadata():
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def self_test():
    meta = metadata()
    by_name = {p["name"]: p for p in meta["packages"]}
    before = set(violations(meta))
    cases = [
        ("bus", {"name": "actix-web", "kind": None}),
        ("bus", {"name": "calendar", "kind": None}),
        ("voice-webhook", {"name": "calendar", "kind": "dev"}),
        ("auth", {"name": "testkit", "kind": None}),
    ]
    for pkg, dep in cases:
        broken = json.loads(json.dumps(meta))
        next(p for p in broken["packages"] if p["id"] == by_name[pkg]["id"])["dependencies"].append(dep)
        if not set(violations(broken)) - before:
            print(f"deps self-test: {pkg} -> {dep['name']} was NOT reported", file=sys.stderr)
            return 1
    if not tree_violations("bus v0.1.0\nservicekit v0.1.0\nactix-web v4.17.0\n"):
        print("deps self-test: actix-web in bus's tree was NOT reported", file=sys.stderr)
        return 1
    print(f"deps self-test: all {len(cases) + 1} deliberate violations reported")
    return 0


def main():
    if "--self-test" in sys.argv:
        return self_test()
    found = violations(metadata()) + tree_violations(bus_tree())
    for v in found:
        print(f"deps: {v}", file=sys.stderr)
    if not found:
        print("deps: bus is transport only (no actix in its tree); no service depends on another; testkit is dev-only")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
