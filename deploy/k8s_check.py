#!/usr/bin/env python3
"""Offline checks of k8s/ and the local gateway, run by deploy/k8s-check.sh (`make k8s-check`).

Usage: k8s_check.py ROOT [RENDERED.yaml ...]

* every *.yaml / *.yml under k8s/ parses;
* the Ingress `voxanne-gateway` and deploy/local/nginx.conf both carry exactly the path table of
  ARCHITECTURE §6, and neither routes /internal/;
* each service has its Deployment (probes, resources, hardened securityContext, config and
  secrets wiring), Service, migration Job, HPA, PDB and ingress NetworkPolicy;
* rendered overlays (output of `kubectl kustomize`, if given): everything namespaced is in
  `voxanne`, no Secret is rendered, every image is pinned to a tag.
Prints PASS/FAIL lines; exits 1 on any failure.
"""

import pathlib
import re
import sys

import yaml

# ARCHITECTURE §2 / §6. Keep in step with deploy/local/nginx.conf and k8s/base/ingress.yaml.
SERVICES = {
    "auth": 8081,
    "voice-webhook": 8082,
    "calendar": 8083,
    "messaging": 8084,
    "lead-scoring": 8085,
}
ROUTES = {  # path prefix -> service
    "/api/auth/": "auth",
    "/api/orgs/": "auth",
    "/.well-known/jwks.json": "auth",
    "/api/webhooks/vapi": "voice-webhook",
    "/api/voice/": "voice-webhook",
    "/api/calendar/": "calendar",
    "/api/integrations/google/": "calendar",
    "/api/webhooks/twilio/": "messaging",
    "/api/messaging/": "messaging",
    "/api/leads/": "lead-scoring",
}
SHARED_SECRET_KEYS = {"ENCRYPTION_KEYS": "encryption-keys", "AMQP_URL": "amqp-url", "REDIS_URL": "redis-url"}
NAMESPACE = "voxanne"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PriorityClass", "StorageClass", "IngressClass"}

failures = 0
quiet_passes = None  # a list while passes are being counted instead of printed


def ok(msg):
    if quiet_passes is not None:
        quiet_passes.append(msg)
    else:
        print(f"PASS  {msg}")


def fail(msg):
    global failures
    failures += 1
    print(f"FAIL  {msg}")


def check(cond, msg, why=""):
    if cond:
        ok(msg)
    else:
        fail(f"{msg}{' -- ' + why if why else ''}")
    return cond


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def dig(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and -len(obj) <= k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


# ---------------------------------------------------------------------------------------------
def parse_tree(root):
    docs = []  # (file, doc)
    files = sorted(p for p in (root / "k8s").rglob("*") if p.suffix in (".yaml", ".yml"))
    bad = 0
    for p in files:
        try:
            for d in load_all(p):
                docs.append((p.relative_to(root), d))
        except yaml.YAMLError as e:
            bad += 1
            fail(f"{p.relative_to(root)} does not parse: {e}")
    check(files and bad == 0, f"{len(files)} YAML files under k8s/ parse ({len(docs)} documents)")
    return docs


def check_ingress(docs):
    ing = [d for f, d in docs if d.get("kind") == "Ingress" and dig(d, "metadata", "name") == "voxanne-gateway"]
    if not check(len(ing) == 1, "exactly one Ingress voxanne-gateway in k8s/"):
        return
    # /api/webhooks/vapi has its own Ingress (a larger body limit; the annotation is per Ingress).
    vapi = [d for f, d in docs if d.get("kind") == "Ingress" and dig(d, "metadata", "name") == "voxanne-gateway-vapi"]
    check(len(vapi) == 1, "exactly one Ingress voxanne-gateway-vapi in k8s/")
    for d in ing + vapi:
        check(dig(d, "spec", "ingressClassName") == "nginx",
              f"Ingress {dig(d, 'metadata', 'name')} ingressClassName is nginx")
    found = {}
    for d in ing + vapi:
        for rule in dig(d, "spec", "rules", default=[]) or []:
            for p in dig(rule, "http", "paths", default=[]) or []:
                path = p.get("path")
                svc = dig(p, "backend", "service", "name")
                port = dig(p, "backend", "service", "port", "number")
                found[path] = (svc, port, p.get("pathType"))
    for path, svc in ROUTES.items():
        got = found.get(path)
        if got is None:
            fail(f"Ingress has no path {path} (-> {svc})")
            continue
        check(got[0] == svc and got[1] == SERVICES[svc] and got[2] in ("Prefix", "Exact"),
              f"Ingress {path} -> {svc}:{SERVICES[svc]} ({got[2]})", f"got {got}")
    extra = sorted(set(found) - set(ROUTES))
    check(not extra, "Ingress has no path outside ARCHITECTURE §6", f"extra: {extra}")
    check(not any("internal" in (p or "") for p in found), "Ingress does not route /internal/")
    if vapi:
        paths = [p.get("path") for r in dig(vapi[0], "spec", "rules", default=[]) or []
                 for p in dig(r, "http", "paths", default=[]) or []]
        check(paths == ["/api/webhooks/vapi"], "Ingress voxanne-gateway-vapi routes only /api/webhooks/vapi",
              f"got {paths}")
        check(dig(vapi[0], "metadata", "annotations", default={}).get(
                  "nginx.ingress.kubernetes.io/proxy-body-size") == "8m",
              "Ingress voxanne-gateway-vapi allows 8m bodies (VAPI_MAX_BODY_BYTES default)")
    # The argon2 endpoints of auth have their own Ingress with a per-address connection limit
    # (issue 11 item 20; ADR 0010): only auth paths, every one routed to auth, the limit set.
    hashing = [d for f, d in docs if d.get("kind") == "Ingress"
               and dig(d, "metadata", "name") == "voxanne-gateway-auth-hashing"]
    if check(len(hashing) == 1, "exactly one Ingress voxanne-gateway-auth-hashing in k8s/"):
        h = hashing[0]
        rows = [(p.get("path"), dig(p, "backend", "service", "name"), dig(p, "backend", "service", "port", "number"))
                for r in dig(h, "spec", "rules", default=[]) or [] for p in dig(r, "http", "paths", default=[]) or []]
        check(rows and all(path.startswith("/api/auth/") and svc == "auth" and port == SERVICES["auth"]
                           for path, svc, port in rows),
              "Ingress voxanne-gateway-auth-hashing routes only /api/auth/* to auth", f"got {rows}")
        # Every route that runs argon2 (ADR 0010) is covered: exact paths, and the factor routes
        # (verify with a recovery code, regeneration) through the /api/auth/factors/ prefix.
        covered = {path for path, _, _ in rows}
        needed = {"/api/auth/token", "/api/auth/signup", "/api/auth/reauthenticate",
                  "/api/auth/verify", "/api/auth/user", "/api/auth/factors/"}
        check(needed <= covered, "Ingress voxanne-gateway-auth-hashing covers every argon2 route",
              f"missing: {sorted(needed - covered)}")
        check(dig(h, "spec", "ingressClassName") == "nginx", "Ingress voxanne-gateway-auth-hashing ingressClassName is nginx")
        check(dig(h, "metadata", "annotations", default={}).get(
                  "nginx.ingress.kubernetes.io/limit-connections") == "20",
              "Ingress voxanne-gateway-auth-hashing limits connections to 20 per address")


def check_nginx(root):
    conf = (root / "deploy/local/nginx.conf").read_text(encoding="utf-8")
    conf = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())  # drop comments
    upstreams = {m.group(1): int(m.group(2)) for m in
                 re.finditer(r"upstream\s+(\S+)\s*\{[^}]*?server\s+127\.0\.0\.1:(\d+)", conf)}
    locs = {}
    for m in re.finditer(r"location\s+(=|\^~)?\s*(\S+)\s*\{([^{}]*)\}", conf):
        body = m.group(3)
        pp = re.search(r"proxy_pass\s+http://([^;/\s]+)", body)
        locs[m.group(2)] = (m.group(1), upstreams.get(pp.group(1)) if pp else None)
    check(re.search(r"listen\s+127\.0\.0\.1:8080\s*;", conf) is not None, "nginx.conf listens on 127.0.0.1:8080")
    for path, svc in ROUTES.items():
        got = locs.get(path)
        check(got is not None and got[1] == SERVICES[svc],
              f"nginx.conf {path} -> {svc} 127.0.0.1:{SERVICES[svc]}", f"got {got}")
    ports = set(SERVICES.values())
    routed = {p for p, (_, port) in locs.items() if port is not None}
    known = {r.rstrip("/") for r in ROUTES}
    stray = sorted(p for p in routed if p.rstrip("/") not in known)
    check(not stray, "nginx.conf proxies nothing outside ARCHITECTURE §6", f"extra: {stray}")
    check(all(port in ports for p, (_, port) in locs.items() if port is not None),
          "nginx.conf proxies only to the 5 service ports")
    check(not any("internal" in p for p in routed) and locs.get("/internal/", (None, None))[1] is None
          and "$vx_internal" in conf,
          "nginx.conf does not proxy /internal/ (and rejects disguised /internal paths)")
    vapi_locs = [m.group(3) for m in re.finditer(r"location\s+(=|\^~)?\s*(\S+)\s*\{([^{}]*)\}", conf)
                 if m.group(2).rstrip("/") == "/api/webhooks/vapi"]
    check(len(vapi_locs) == 2 and all(re.search(r"client_max_body_size\s+8m\s*;", b) for b in vapi_locs),
          "nginx.conf allows 8m bodies on /api/webhooks/vapi (VAPI_MAX_BODY_BYTES default)")
    check('"route_not_found"' in conf and "application/problem+json" in conf,
          "nginx.conf answers unknown routes with problem+json route_not_found")


def env_map(container):
    out = {}
    for e in container.get("env", []) or []:
        ref = dig(e, "valueFrom", "secretKeyRef")
        out[e["name"]] = ("secret", ref.get("name"), ref.get("key")) if ref else ("value", e.get("value"))
    return out


def check_container_hardening(what, pod_spec, c):
    sc = c.get("securityContext", {}) or {}
    psc = pod_spec.get("securityContext", {}) or {}
    check(sc.get("runAsNonRoot") is True or psc.get("runAsNonRoot") is True, f"{what}: runAsNonRoot")
    check(sc.get("readOnlyRootFilesystem") is True, f"{what}: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, f"{what}: allowPrivilegeEscalation false")
    check("ALL" in (dig(sc, "capabilities", "drop", default=[]) or []), f"{what}: capabilities drop ALL")
    res = c.get("resources", {}) or {}
    check(all(dig(res, k, r) for k in ("requests", "limits") for r in ("cpu", "memory")),
          f"{what}: cpu/memory requests and limits")
    check(any(dig(ef, "configMapRef", "name") == "voxanne-config" for ef in c.get("envFrom", []) or []),
          f"{what}: envFrom ConfigMap voxanne-config")


def check_services(docs):
    """One PASS line per service (its failures are printed one by one)."""
    global quiet_passes
    by = {}
    for _, d in docs:
        by.setdefault((d.get("kind"), dig(d, "metadata", "name")), d)
    for svc, port in SERVICES.items():
        quiet_passes, before = [], failures
        check_service(by, svc, port)
        n, quiet_passes = len(quiet_passes), None
        if failures == before:
            ok(f"{svc}: Deployment, Service, migration Job, HPA, PDB, NetworkPolicy ({n} checks)")
    check_namespace_wide(docs, by)


def check_service(by, svc, port):
    dep = by.get(("Deployment", svc))
    if check(dep is not None, f"{svc}: Deployment"):
        spec = dig(dep, "spec", "template", "spec", default={})
        c = dig(spec, "containers", 0, default={})
        check(dig(dep, "spec", "replicas") == 2, f"{svc}: Deployment replicas 2 in base")
        check(c.get("args") == ["serve"], f"{svc}: container runs `{svc} serve`")
        check(any(p.get("containerPort") == port for p in c.get("ports", []) or []), f"{svc}: containerPort {port}")
        check(dig(c, "readinessProbe", "httpGet", "path") == "/ready", f"{svc}: readinessProbe GET /ready")
        check(dig(c, "livenessProbe", "httpGet", "path") == "/health", f"{svc}: livenessProbe GET /health")
        check_container_hardening(f"{svc} Deployment", spec, c)
        env = env_map(c)
        want = dict(SHARED_SECRET_KEYS, DATABASE_URL=f"database-url-{svc}")
        check(all(env.get(k) == ("secret", "voxanne-secrets", v) for k, v in want.items()),
              f"{svc}: DATABASE_URL, ENCRYPTION_KEYS, AMQP_URL, REDIS_URL from Secret voxanne-secrets",
              f"got {env}")
        check("MIGRATION_DATABASE_URL" not in env, f"{svc}: serving pods get no owner (migration) credentials")
    s = by.get(("Service", svc))
    check(s is not None and dig(s, "spec", "type", default="ClusterIP") == "ClusterIP"
          and any(p.get("port") == port for p in dig(s, "spec", "ports", default=[]) or []),
          f"{svc}: Service ClusterIP :{port}")
    job = by.get(("Job", f"{svc}-migrate"))
    if check(job is not None, f"{svc}: migration Job {svc}-migrate"):
        spec = dig(job, "spec", "template", "spec", default={})
        c = dig(spec, "containers", 0, default={})
        check(c.get("args") == ["migrate"], f"{svc}: Job runs `{svc} migrate`")
        check(env_map(c).get("MIGRATION_DATABASE_URL")
              == ("secret", "voxanne-secrets", f"migration-database-url-{svc}"),
              f"{svc}: Job MIGRATION_DATABASE_URL from migration-database-url-{svc}")
        check(isinstance(dig(job, "spec", "backoffLimit"), int)
              and isinstance(dig(job, "spec", "ttlSecondsAfterFinished"), int),
              f"{svc}: Job backoffLimit and ttlSecondsAfterFinished")
        check(spec.get("restartPolicy") in ("Never", "OnFailure"), f"{svc}: Job restartPolicy")
        check_container_hardening(f"{svc} Job", spec, c)
    hpa = by.get(("HorizontalPodAutoscaler", svc))
    check(hpa is not None and hpa.get("apiVersion") == "autoscaling/v2"
          and dig(hpa, "spec", "scaleTargetRef", "name") == svc
          and any(dig(m, "resource", "name") == "cpu" and dig(m, "resource", "target", "averageUtilization") == 70
                  for m in dig(hpa, "spec", "metrics", default=[]) or []),
          f"{svc}: HPA autoscaling/v2 cpu 70%")
    pdb = by.get(("PodDisruptionBudget", svc))
    check(pdb is not None and dig(pdb, "spec", "minAvailable") == 1, f"{svc}: PDB minAvailable 1")
    np_ = by.get(("NetworkPolicy", f"{svc}-ingress"))
    check(np_ is not None and any(p.get("port") == port for r in dig(np_, "spec", "ingress", default=[]) or []
                                  for p in r.get("ports", []) or []),
          f"{svc}: NetworkPolicy {svc}-ingress allows :{port}")


def check_namespace_wide(docs, by):
    dd = by.get(("NetworkPolicy", "default-deny-ingress"))
    check(dd is not None and dig(dd, "spec", "podSelector") == {} and "Ingress" in dig(dd, "spec", "policyTypes", default=[]),
          "NetworkPolicy default-deny-ingress")
    check(not any(d.get("kind") == "Secret" for _, d in docs), "no Secret in k8s/ (created out of band)")


def check_rendered(path):
    name = path.stem
    try:
        docs = load_all(path)
    except yaml.YAMLError as e:
        fail(f"rendered {name}: does not parse: {e}")
        return
    wrong_ns = [f"{d.get('kind')}/{dig(d, 'metadata', 'name')}" for d in docs
                if d.get("kind") not in CLUSTER_SCOPED and dig(d, "metadata", "namespace") != NAMESPACE]
    check(not wrong_ns, f"rendered {name}: {len(docs)} objects, all namespaced ones in {NAMESPACE}", f"{wrong_ns}")
    check(not any(d.get("kind") == "Secret" for d in docs), f"rendered {name}: no Secret")
    images = set()
    for d in docs:
        spec = dig(d, "spec", "template", "spec", default={}) or {}
        for c in (spec.get("containers", []) or []) + (spec.get("initContainers", []) or []):
            images.add(c.get("image", ""))
    if name != "base":
        untagged = sorted(i for i in images
                          if (":" not in i.rsplit("/", 1)[-1] and "@" not in i) or i.endswith(":latest"))
        check(not untagged, f"rendered {name}: every image pinned ({len(images)} images)", f"untagged: {untagged}")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    root = pathlib.Path(sys.argv[1]).resolve()
    docs = parse_tree(root)
    check_ingress(docs)
    check_nginx(root)
    check_services([(f, d) for f, d in docs if str(f).startswith("k8s/base/")])
    for r in sys.argv[2:]:
        check_rendered(pathlib.Path(r))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
