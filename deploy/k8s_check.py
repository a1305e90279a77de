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
    twilio = [d for f, d in docs if d.get("kind") == "Ingress" and dig(d, "metadata", "name") == "voxanne-gateway-twilio"]
    check(len(twilio) == 1, "exactly one Ingress voxanne-gateway-twilio in k8s/")
    for d in ing + vapi + twilio:
        check(dig(d, "spec", "ingressClassName") == "nginx",
              f"Ingress {dig(d, 'metadata', 'name')} ingressClassName is nginx")
    found = {}
    for d in ing + vapi + twilio:
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
    # A more specific location under a routed prefix (auth's argon2 routes) goes to that
    # prefix's service.
    under = {p: next((r for r in ROUTES if r.endswith("/") and p.startswith(r) and p != r), None) for p in routed}
    stray = sorted(p for p in routed if p.rstrip("/") not in known
                   and (under[p] is None or locs[p][1] != SERVICES[ROUTES[under[p]]]))
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


# ---------------------------------------------------------------------------------------------
# Gateway parity beyond the path table: CORS and rate limits (the local gateway = the Ingresses).
CORS_KEYS = ("cors-allow-methods", "cors-allow-headers", "cors-expose-headers", "cors-max-age")


def ingress_by_name(docs):
    return {dig(d, "metadata", "name"): d for _, d in docs if d.get("kind") == "Ingress"}


def ann(d, key):
    return dig(d, "metadata", "annotations", default={}).get(f"nginx.ingress.kubernetes.io/{key}")


def check_gateway_parity(docs, root):
    ings = ingress_by_name(docs)
    conf = (root / "deploy/local/nginx.conf").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    gw, hashing = ings.get("voxanne-gateway"), ings.get("voxanne-gateway-auth-hashing")
    vapi, twilio = ings.get("voxanne-gateway-vapi"), ings.get("voxanne-gateway-twilio")
    if not all((gw, hashing, vapi, twilio)):
        fail("gateway parity: an Ingress is missing (voxanne-gateway, -auth-hashing, -vapi, -twilio)")
        return
    # CORS: the dashboard-facing Ingresses agree with each other and with nginx.conf.
    for d in (gw, hashing):
        n = dig(d, "metadata", "name")
        check(ann(d, "enable-cors") == "true" and ann(d, "cors-allow-origin")
              and ann(d, "cors-allow-credentials") == "false",
              f"Ingress {n}: CORS on, for one origin, without credentials")
    check(all(ann(gw, k) == ann(hashing, k) for k in CORS_KEYS + ("cors-allow-origin",)),
          "Ingress voxanne-gateway and -auth-hashing carry the same CORS settings")
    for d in (vapi, twilio):
        check(ann(d, "enable-cors") in (None, "false"), f"Ingress {dig(d, 'metadata', 'name')}: no CORS on provider webhooks")
    check(re.search(r'map\s+\$http_origin\s+\$vx_cors_origin\s*\{[^}]*"__VOXANNE_DASHBOARD_ORIGIN__"\s+\$http_origin', code) is not None,
          "nginx.conf: CORS only for the dashboard origin placeholder (run.sh fills in DASHBOARD_ORIGIN)")
    want = {
        "cors-allow-methods": re.search(r'Access-Control-Allow-Methods\s+"([^"]*)"', code),
        "cors-allow-headers": re.search(r'Access-Control-Allow-Headers\s+"([^"]*)"', code),
        "cors-max-age": re.search(r'Access-Control-Max-Age\s+(\d+)', code),
        "cors-expose-headers": re.search(r'\$vx_cors_expose\s*\{[^}]*"~\."\s+"([^"]*)"', code),
    }
    for k, m in want.items():
        got = m.group(1) if m else None
        check(got is not None and got == ann(gw, k), f"nginx.conf {k} equals the Ingress ({ann(gw, k)!r})",
              f"nginx.conf has {got!r}")
    # Rate limits: rps and burst (= rps x limit-burst-multiplier) per zone.
    zones = {m.group(1): int(m.group(2)) for m in
             re.finditer(r"limit_req_zone\s+\$binary_remote_addr\s+zone=(\w+):\S+\s+rate=(\d+)r/s\s*;", code)}
    uses = {}
    for m in re.finditer(r"location\s+(=|\^~)?\s*(\S+)\s*\{([^{}]*)\}", code):
        lr = re.search(r"limit_req\s+zone=(\w+)\s+burst=(\d+)\s+nodelay\s*;", m.group(3))
        if lr:
            uses[m.group(2)] = (lr.group(1), int(lr.group(2)))
    check(re.search(r"limit_req_status\s+429\s*;", code) is not None, "nginx.conf: over a rate limit is 429")

    def limited(ing, paths, what):
        rps, mult = ann(ing, "limit-rps"), ann(ing, "limit-burst-multiplier")
        if not check(rps and mult, f"Ingress {dig(ing, 'metadata', 'name')}: limit-rps and limit-burst-multiplier ({what})"):
            return
        rps, burst = int(rps), int(rps) * int(mult)
        for path in paths:
            got = uses.get(path)
            check(got is not None and zones.get(got[0]) == rps and got[1] == burst,
                  f"nginx.conf {path}: {rps} r/s, burst {burst}, as the Ingress", f"got {got} zones {zones}")

    hashing_paths = [p.get("path") for r in dig(hashing, "spec", "rules", default=[]) or []
                     for p in dig(r, "http", "paths", default=[]) or []]
    limited(hashing, hashing_paths, "auth argon2 routes")
    limited(vapi, ["/api/webhooks/vapi", "/api/webhooks/vapi/"], "Vapi webhooks")
    limited(twilio, ["/api/webhooks/twilio/", "/api/webhooks/twilio"], "Twilio webhooks")
    auth_rl = {p for p, (z, _) in uses.items() if p.startswith("/api/auth")}
    check(auth_rl == set(hashing_paths), "nginx.conf rate-limits exactly the auth paths of voxanne-gateway-auth-hashing",
          f"nginx {sorted(auth_rl)} vs Ingress {sorted(hashing_paths)}")
    # The Ingresses' own errors are problem+json (voxanne-errors), and unknown routes go there.
    for d in (gw, hashing, vapi, twilio):
        n = dig(d, "metadata", "name")
        check(ann(d, "default-backend") == "voxanne-errors" and ann(d, "custom-http-errors"),
              f"Ingress {n}: its own errors from voxanne-errors ({ann(d, 'custom-http-errors')})")
    check(dig(gw, "spec", "defaultBackend", "service", "name") == "voxanne-errors",
          "Ingress voxanne-gateway: unknown routes answered by voxanne-errors (404 route_not_found)")
    for code_ in ("429",):
        check(code_ not in (ann(gw, "custom-http-errors") or "") and code_ not in (ann(hashing, "custom-http-errors") or ""),
              "auth's own 429s (GoTrue-shaped) are not intercepted")
    errs = [d for _, d in docs if d.get("kind") == "ConfigMap" and dig(d, "metadata", "name") == "voxanne-errors"]
    body = (dig(errs[0], "data", "nginx.conf") or "") if errs else ""
    check(all(f'"code":"{c}"' in body for c in ("route_not_found", "payload_too_large", "rate_limited",
                                                "upstream_unavailable", "upstream_timeout"))
          and "application/problem+json" in body,
          "voxanne-errors answers problem+json with the local gateway's codes")


# ---------------------------------------------------------------------------------------------
def pod_specs(docs):
    """(what, pod spec, metadata labels) of every workload."""
    out = []
    for _, d in docs:
        kind, name = d.get("kind"), dig(d, "metadata", "name")
        if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            out.append((f"{kind}/{name}", dig(d, "spec", "template", "spec", default={}) or {}, d))
        elif kind == "CronJob":
            out.append((f"{kind}/{name}", dig(d, "spec", "jobTemplate", "spec", "template", "spec", default={}) or {}, d))
    return out


def check_pods(docs):
    sas = {dig(d, "metadata", "name"): d for _, d in docs if d.get("kind") == "ServiceAccount"}
    check(all(d.get("automountServiceAccountToken") is False for d in sas.values()) and sas,
          f"{len(sas)} ServiceAccounts, none automounts a token")
    bad = []
    for what, spec, _ in pod_specs(docs):
        sa = spec.get("serviceAccountName")
        if sa not in sas or spec.get("automountServiceAccountToken") is not False:
            bad.append(f"{what} (serviceAccountName {sa!r})")
        for c in spec.get("containers", []) or []:
            sc = c.get("securityContext", {}) or {}
            if not (sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                    and dig(c, "resources", "limits", "memory") and dig(c, "resources", "requests", "cpu")):
                bad.append(f"{what} container {c.get('name')}: hardening or resources")
    check(not bad, f"every workload ({len(pod_specs(docs))}) has its own ServiceAccount, no token, hardened containers",
          "; ".join(bad))
    crons = {dig(d, "metadata", "name"): d for _, d in docs if d.get("kind") == "CronJob"}
    check("backup-verify" in crons and "auth-keys-rotate" in crons, "CronJobs backup-verify and auth-keys-rotate")
    for n, d in crons.items():
        check(dig(d, "spec", "concurrencyPolicy") == "Forbid" and dig(d, "spec", "timeZone")
              and isinstance(dig(d, "spec", "jobTemplate", "spec", "activeDeadlineSeconds"), int),
              f"CronJob {n}: no overlap, a time zone, a deadline")
    for _, d in docs:
        if d.get("kind") == "Deployment" and dig(d, "metadata", "labels", "app.kubernetes.io/component") == "api":
            c = dig(d, "spec", "template", "spec", "containers", 0, default={})
            check(dig(c, "startupProbe", "httpGet", "path") == "/health",
                  f"{dig(d, 'metadata', 'name')}: startupProbe /health (liveness), readiness /ready")


PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}


def check_network(docs):
    nps = {dig(d, "metadata", "name"): d for _, d in docs if d.get("kind") == "NetworkPolicy"}
    dd = nps.get("default-deny-egress")
    check(dd is not None and dig(dd, "spec", "podSelector") == {} and "Egress" in dig(dd, "spec", "policyTypes", default=[]),
          "NetworkPolicy default-deny-egress")
    bad = []
    for n, d in nps.items():
        for i, rule in enumerate(dig(d, "spec", "egress", default=[]) or []):
            to = rule.get("to") or []
            if not to:
                bad.append(f"{n} egress[{i}] has no `to` (any destination)")
            for peer in to:
                block = peer.get("ipBlock")
                if block and block.get("cidr") in ("0.0.0.0/0", "::/0"):
                    ports = {p.get("port") for p in rule.get("ports", []) or []}
                    if not PRIVATE <= set(block.get("except", []) or []) or not ports or not ports <= {443, 465, 587}:
                        bad.append(f"{n} egress[{i}]: the internet only on 443/465/587, never private ranges or metadata")
        for i, rule in enumerate(dig(d, "spec", "ingress", default=[]) or []):
            if not rule.get("from"):
                bad.append(f"{n} ingress[{i}] has no `from` (any source)")
    check(not bad, f"{len(nps)} NetworkPolicies: every rule names its peers", "; ".join(bad))


# ---------------------------------------------------------------------------------------------
# The settings contract (deploy/settings-contract.json, generated from the binaries by
# platform-tests): in every rendered overlay, each container running a service binary gets every
# setting that binary requires (in production), secrets only from Secrets, and no unknown name.
def load_contract(root):
    p = root / "deploy/settings-contract.json"
    try:
        import json
        data = json.loads(p.read_text(encoding="utf-8"))
        return {s["service"]: {x["name"]: x for x in s["settings"]} for s in data["services"]}
    except (OSError, ValueError, KeyError) as e:
        fail(f"deploy/settings-contract.json unreadable: {e}")
        return None


def image_service(image, contract):
    base = image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return base if base in contract else None


def container_env(c, configmaps, what):
    """name -> (source, detail) for what a container gets; optional secret refs do not count."""
    env = {}
    for ef in c.get("envFrom", []) or []:
        cm = dig(ef, "configMapRef", "name")
        if cm is not None:
            if cm not in configmaps:
                fail(f"{what}: envFrom ConfigMap {cm} is not rendered")
            for k, v in (configmaps.get(cm) or {}).items():
                env[k] = ("configmap", v)
        if ef.get("secretRef"):
            fail(f"{what}: envFrom secretRef hides which keys it gets; name each secretKeyRef")
    for e in c.get("env", []) or []:
        ref = dig(e, "valueFrom", "secretKeyRef")
        cmref = dig(e, "valueFrom", "configMapKeyRef")
        if ref:
            if ref.get("optional") is True:
                env[e["name"]] = ("optional-secret", ref.get("key"))
            else:
                env[e["name"]] = ("secret", ref.get("key"))
        elif cmref:
            env[e["name"]] = ("configmap", (configmaps.get(cmref.get("name")) or {}).get(cmref.get("key")))
        else:
            env[e["name"]] = ("value", e.get("value"))
    return env


def check_contract(name, docs, contract):
    configmaps = {dig(d, "metadata", "name"): (d.get("data") or {}) for d in docs if d.get("kind") == "ConfigMap"}
    known = set().union(*[set(s) for s in contract.values()])
    checked = 0
    for what, spec, _ in pod_specs([(None, d) for d in docs]):
        for c in spec.get("containers", []) or []:
            svc = image_service(c.get("image", ""), contract)
            where = f"overlay {name}: {what}"
            if svc is None:
                if "/ops" in c.get("image", "") or c.get("image", "").startswith("voxanne/ops"):
                    print(f"SKIP  {where}: voxanne-ops is not in the settings contract yet (PENDING, k8s/base/cronjobs.yaml)")
                continue
            checked += 1
            settings = contract[svc]
            env = container_env(c, configmaps, where)
            production = (env.get("VOXANNE_ENV", ("", ""))[1] or "local") == "production"
            missing = [k for k, s in settings.items()
                       if s["required_in_production"] and production
                       and (k not in env or env[k][0] == "optional-secret" or env[k][1] in (None, ""))]
            check(not missing, f"{where} ({svc}) gets every setting it requires"
                  f"{' in production' if production else ''}", f"missing: {missing}")
            leaked = [k for k, (src, _) in env.items() if k in settings and settings[k]["secret"]
                      and src not in ("secret", "optional-secret")]
            check(not leaked, f"{where} ({svc}) reads its secrets from Secrets only", f"not from a Secret: {leaked}")
            own_unknown = [k for k, (src, _) in env.items() if src != "configmap" and k not in settings]
            check(not own_unknown, f"{where} ({svc}) sets no setting {svc} does not read", f"unknown: {own_unknown}")
    secret_names = {k for svc in contract.values() for k, x in svc.items() if x["secret"]}
    in_cm = sorted(k for n, cm in configmaps.items() for k in cm if k in secret_names)
    check(not in_cm, f"overlay {name}: no secret setting in a ConfigMap", f"secret settings in a ConfigMap: {in_cm}")
    shared_unknown = [k for n, cm in configmaps.items() if n.startswith("voxanne-config") for k in cm if k not in known]
    check(not shared_unknown, f"overlay {name}: every key of ConfigMap voxanne-config is a setting some binary reads",
          f"unknown: {shared_unknown}")
    check(checked > 0, f"overlay {name}: {checked} containers checked against the settings contract")


# ---------------------------------------------------------------------------------------------
# Dashboards and alerts name only metrics something exports: the services (every
# metrics::counter!/gauge!/histogram! name in the code, histograms with _bucket/_sum/_count) and
# the exporters the monitoring stack runs anyway (listed here, by prefix).
EXTERNAL_PREFIXES = ("kube_", "rabbitmq_", "nginx_ingress_controller_", "otelcol_", "pg_", "redis_")
EXTERNAL_NAMES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "bool", "offset", "inf", "nan", "atan2", "le", "start", "end"}


def exported_metrics(root):
    names = set()
    pat = re.compile(r"\b(counter|gauge|histogram)!\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
    for base in ("crates", "services"):
        for p in (root / base).rglob("*.rs"):
            if "/tests/" in p.as_posix() or "/testkit/" in p.as_posix() or "/benches/" in p.as_posix():
                continue
            for m in pat.finditer(p.read_text(encoding="utf-8")):
                kind, n = m.groups()
                names.add(n)
                if kind == "histogram":
                    names |= {f"{n}_bucket", f"{n}_sum", f"{n}_count"}
    return names


def promql_metrics(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                          # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                          # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    out = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        out.add(word)
    return out


def monitoring_exprs(root):
    """(where, expr) of every Grafana panel target and every alert rule under deploy/monitoring/."""
    import json
    out = []
    mon = root / "deploy/monitoring"
    for p in sorted(mon.rglob("*.json")):
        def walk(o, path):
            if isinstance(o, dict):
                if isinstance(o.get("expr"), str):
                    out.append((f"{p.relative_to(root)} {path}", o["expr"]))
                for k, v in o.items():
                    walk(v, f"{path}/{o.get('title', k) if k == 'targets' else k}")
            elif isinstance(o, list):
                for i, v in enumerate(o):
                    walk(v, f"{path}[{i}]")
        walk(json.loads(p.read_text(encoding="utf-8")), "")
    for p in sorted(list(mon.rglob("*.yaml")) + list(mon.rglob("*.yml"))):
        for d in load_all(p):
            groups = dig(d, "spec", "groups") or d.get("groups") or []
            for g in groups:
                for r in g.get("rules", []) or []:
                    if isinstance(r.get("expr"), str):
                        out.append((f"{p.relative_to(root)} {r.get('alert') or r.get('record')}", r["expr"]))
    return out


def check_metrics(root):
    exported = exported_metrics(root)
    exprs = monitoring_exprs(root)
    recorded = set()
    for p in sorted((root / "deploy/monitoring").rglob("*.yaml")):
        for d in load_all(p):
            for g in dig(d, "spec", "groups") or d.get("groups") or []:
                recorded |= {r["record"] for r in g.get("rules", []) or [] if r.get("record")}
    unknown = []
    for where, expr in exprs:
        for m in sorted(promql_metrics(expr)):
            if m in exported or m in recorded or m in EXTERNAL_NAMES or m.startswith(EXTERNAL_PREFIXES):
                continue
            unknown.append(f"{where}: {m}")
    check(exprs and not unknown,
          f"{len(exprs)} dashboard/alert expressions name only exported metrics ({len(exported)} from the code)",
          "; ".join(unknown))


# ---------------------------------------------------------------------------------------------
# Self-test: each deliberate breakage of a copy of the tree makes `make k8s-check` fail with its
# own message; the unbroken copy passes.
def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise SystemExit(f"self-test: {path} no longer contains {old!r}; update the self-test")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


BREAKAGES = [
    ("voice-webhook without VAPI_WEBHOOK_SECRET (a required setting)",
     "k8s/base/services/voice-webhook.yaml",
     "            - name: VAPI_WEBHOOK_SECRET\n              valueFrom:\n                secretKeyRef:\n"
     "                  name: voxanne-secrets\n                  key: vapi-webhook-secret\n", "",
     r"Deployment/voice-webhook .*gets every setting it requires in production -- missing: \[.*'VAPI_WEBHOOK_SECRET'"),
    ("CALENDAR_INTERNAL_URL dropped from the ConfigMap",
     "k8s/base/kustomization.yaml", "      - CALENDAR_INTERNAL_URL=http://calendar.voxanne.svc.cluster.local:8083\n", "",
     r"Job/voice-webhook-migrate .*missing: \[.*'CALENDAR_INTERNAL_URL'"),
    ("a secret in the ConfigMap",
     "k8s/base/kustomization.yaml", "      - BODY_LIMIT_BYTES=262144\n", "      - BODY_LIMIT_BYTES=262144\n      - AMQP_URL=amqp://guest:guest@mq:5672/%2f\n",
     r"secret settings in a ConfigMap: \['AMQP_URL'\]"),
    ("an unknown field in a Deployment (strict schema)",
     "k8s/base/services/calendar.yaml", "          imagePullPolicy: IfNotPresent\n",
     "          imagePullPolicy: IfNotPresent\n          imagePullPolicyy: Always\n",
     "FAIL  kubernetes-validate --strict"),
    ("a YAML lint error",
     "k8s/base/namespace.yaml", "  name: voxanne\n", "  name: voxanne   \n", "FAIL  yamllint"),
    ("a Dockerfile without a pinned base tag",
     "Dockerfile", "FROM gcr.io/distroless/cc-debian12:nonroot AS runtime-base", "FROM gcr.io/distroless/cc-debian12 AS runtime-base",
     "FAIL  hadolint Dockerfile"),
    ("the local gateway's CORS methods differ from the Ingress",
     "deploy/local/nginx.conf", 'Access-Control-Allow-Methods "GET, POST, PUT, PATCH, DELETE, OPTIONS"',
     'Access-Control-Allow-Methods "GET, POST"', "nginx.conf cors-allow-methods equals the Ingress"),
    ("the Vapi webhooks' rate limit differs",
     "k8s/base/ingress.yaml", '    nginx.ingress.kubernetes.io/limit-rps: "100"\n', '    nginx.ingress.kubernetes.io/limit-rps: "5"\n',
     "FAIL  nginx.conf /api/webhooks/vapi: 5 r/s"),
    ("an egress rule to anywhere",
     "k8s/base/networkpolicy.yaml", "    - to:\n        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: kube-system\n",
     "    - ports:\n        - protocol: TCP\n          port: 25\n    - to:\n        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: kube-system\n",
     "has no `to` (any destination)"),
    ("a pod that mounts a service account token",
     "k8s/base/services/messaging.yaml", "      automountServiceAccountToken: false\n", "      automountServiceAccountToken: true\n",
     "FAIL  every workload"),
    ("a dashboard naming a metric no service exports",
     "deploy/monitoring/dashboards/voxanne-services.json", "sum by (job) (rate(http_requests_total",
     "sum by (job) (rate(http_requests_bogus_total", "http_requests_bogus_total"),
    ("an alert naming a metric no service exports",
     "deploy/monitoring/alerts.yaml", "bus_outbox_lag_seconds", "bus_outbox_lag_bogus_seconds", "bus_outbox_lag_bogus_seconds"),
]


def self_test(here):
    """Two runs of deploy/k8s-check.sh on copies of the tree: the unbroken copy passes; a copy
    with every breakage of BREAKAGES applied fails with each one's own message (the checks are
    independent, so one run shows them all and keeps make lint fast)."""
    import os
    import shutil
    import subprocess
    import tempfile
    script = here / "deploy/k8s-check.sh"
    results = []

    def run(root):
        env = dict(os.environ, K8S_CHECK_ROOT=str(root))
        p = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=600)
        return p.returncode, p.stdout + p.stderr

    def copy(dest):
        dest.mkdir()
        for rel in ("k8s", "deploy", "Dockerfile", "crates", "services"):
            src = here / rel
            if src.is_dir():
                shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("target", "__pycache__"))
            else:
                shutil.copy2(src, dest / rel)
        return dest

    with tempfile.TemporaryDirectory() as d:
        code, out = run(copy(pathlib.Path(d) / "unbroken"))
        print(f"{'PASS' if code == 0 else 'FAIL'}  self-test: the unbroken copy passes")
        if code != 0:
            print(out[-4000:])
        results.append(code == 0)
        broken = copy(pathlib.Path(d) / "broken")
        for _, rel, old, new, _ in BREAKAGES:
            _edit(broken / rel, old, new)
        code, out = run(broken)
        results.append(code != 0)
        print(f"{'PASS' if code != 0 else 'FAIL'}  self-test: the broken copy fails (exit {code})")
        fails = [l for l in out.splitlines() if l.startswith("FAIL") or "error" in l.lower() or "DL" in l]
        for what, _, _, _, expect in BREAKAGES:
            line = next((l for l in out.splitlines() if expect in l or re.search(expect, l)), None)
            results.append(line is not None)
            print(f"{'PASS' if line else 'FAIL'}  self-test: {what}")
            print(f"        {(line or f'expected {expect!r} in the output').strip()[:220]}")
        if not all(results):
            print("\n".join(fails[-60:]))
    print(f"k8s-check self-test: {sum(results)}/{len(results)} as expected")
    return 0 if all(results) else 1


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if sys.argv[1] == "--self-test":
        return self_test(pathlib.Path(sys.argv[2]).resolve())
    root = pathlib.Path(sys.argv[1]).resolve()
    docs = parse_tree(root)
    check_ingress(docs)
    check_nginx(root)
    base = [(f, d) for f, d in docs if str(f).startswith("k8s/base/")]
    check_services(base)
    check_gateway_parity(base, root)
    check_pods(base)
    check_network(base)
    check_metrics(root)
    contract = load_contract(root)
    for r in sys.argv[2:]:
        check_rendered(pathlib.Path(r))
        if contract is not None and pathlib.Path(r).stem != "base":
            check_contract(pathlib.Path(r).stem, load_all(r), contract)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
