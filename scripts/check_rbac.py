#!/usr/bin/env python3
"""Asserts the RBAC a rendering of the soc2-operator chart grants is least privilege.

Usage: check_rbac.py RENDERED.yaml --namespace NS --enforcement on|off

Fails (exit 1, one line per problem) when:
  - any rule of a Role or ClusterRole has `*` in verbs, resources, apiGroups, resourceNames or
    nonResourceURLs, or grants escalate, bind or impersonate;
  - `secrets` appears in a ClusterRole, or in a Role outside the release namespace, or with a verb
    other than get;
  - a write verb (anything but get/list/watch) is granted that is not on the allowed list below;
    the enforcement write verbs count as allowed only with --enforcement on, and must then all
    be present;
  - a read the operator needs (the snapshot's kinds) is missing;
  - a binding points at a role the rendering does not define, or at a subject other than the
    chart's ServiceAccount in the release namespace.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from collections import defaultdict

import yaml

READ = {"get", "list", "watch"}
FORBIDDEN_VERBS = {"escalate", "bind", "impersonate", "deletecollection"}

# (apiGroup, resource) -> verbs the ClusterRole must grant.
REQUIRED_CLUSTER = {}
for group, resources, verbs in [
    ("", ["namespaces", "nodes", "pods", "services", "serviceaccounts", "configmaps",
          "persistentvolumes", "persistentvolumeclaims"], READ),
    ("apps", ["deployments", "statefulsets", "daemonsets", "replicasets"], READ),
    ("batch", ["jobs", "cronjobs"], READ),
    ("networking.k8s.io", ["ingresses", "networkpolicies"], READ),
    ("rbac.authorization.k8s.io", ["clusterroles", "clusterrolebindings", "roles", "rolebindings"], READ),
    ("storage.k8s.io", ["storageclasses"], READ),
    ("policy", ["poddisruptionbudgets"], READ),
    ("admissionregistration.k8s.io", ["validatingadmissionpolicies", "validatingadmissionpolicybindings"], READ),
    ("velero.io", ["backups", "schedules", "restores"], READ),
    ("apiextensions.k8s.io", ["customresourcedefinitions"], {"get", "list"}),
    ("soc2.evidence.dev", ["soc2controls", "evidencepolicies"], READ | {"patch", "update"}),
    ("soc2.evidence.dev", ["soc2controls/status", "evidencepolicies/status"], {"get", "patch", "update"}),
    ("soc2.evidence.dev", ["soc2controls/finalizers"], {"update"}),
    ("events.k8s.io", ["events"], {"create", "patch"}),
    ("", ["events"], {"create", "patch"}),
]:
    for r in resources:
        REQUIRED_CLUSTER.setdefault((group, r), set()).update(verbs)

# Write verbs always allowed in the ClusterRole.
ALLOWED_CLUSTER_WRITES = {
    ("soc2.evidence.dev", "soc2controls"): {"patch", "update"},
    ("soc2.evidence.dev", "evidencepolicies"): {"patch", "update"},
    ("soc2.evidence.dev", "soc2controls/status"): {"patch", "update"},
    ("soc2.evidence.dev", "evidencepolicies/status"): {"patch", "update"},
    ("soc2.evidence.dev", "soc2controls/finalizers"): {"update"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("", "events"): {"create", "patch"},
}
# Write verbs allowed, and required, only with enforcement on.
ENFORCEMENT_WRITES = {
    ("networking.k8s.io", "networkpolicies"): {"create", "patch", "update", "delete"},
    ("", "namespaces"): {"patch"},
    ("", "serviceaccounts"): {"patch"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): {"create", "patch", "update", "delete"},
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): {"create", "patch", "update", "delete"},
}
# The Role in the release namespace: exactly these grants (secrets get may carry resourceNames).
ROLE_ALLOWED = {
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    ("", "secrets"): {"get"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def grants(rules: list[dict]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in rules or []:
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                out[(g, r)].update(rule.get("verbs") or [])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rendered")
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--enforcement", choices=["on", "off"], required=True)
    args = ap.parse_args()
    enforcement = args.enforcement == "on"

    docs = load(args.rendered)
    errors: list[str] = []
    err = errors.append

    roles = [d for d in docs if d.get("kind") in ("Role", "ClusterRole")]
    bindings = [d for d in docs if d.get("kind") in ("RoleBinding", "ClusterRoleBinding")]
    sas = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs if d.get("kind") == "ServiceAccount"}
    if not roles:
        err("no Role or ClusterRole rendered (rbac.create must default to true)")

    cluster_grants: dict[tuple[str, str], set[str]] = defaultdict(set)
    for role in roles:
        kind, meta = role["kind"], role["metadata"]
        where = f"{kind} {meta.get('namespace', '') + '/' if kind == 'Role' else ''}{meta['name']}"
        if role.get("aggregationRule"):
            err(f"{where}: aggregationRule would grant whatever other roles carry")
        for i, rule in enumerate(role.get("rules") or []):
            for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
                values = rule.get(field) or []
                if any("*" in str(v) for v in values):
                    err(f"{where} rule {i}: wildcard in {field}: {values}")
            bad = FORBIDDEN_VERBS & set(rule.get("verbs") or [])
            if bad:
                err(f"{where} rule {i}: forbidden verbs {sorted(bad)}")
            if rule.get("nonResourceURLs"):
                err(f"{where} rule {i}: nonResourceURLs are not needed")
            if "secrets" in (rule.get("resources") or []):
                if kind == "ClusterRole":
                    err(f"{where} rule {i}: secrets in a ClusterRole (read them only in the operator's namespace)")
                elif meta.get("namespace") != args.namespace:
                    err(f"{where} rule {i}: secrets in a Role outside the release namespace {args.namespace}")
                elif set(rule.get("verbs") or []) - {"get"}:
                    err(f"{where} rule {i}: secrets verbs {rule.get('verbs')} (only get)")
        g = grants(role.get("rules"))
        if kind == "ClusterRole":
            for key, verbs in g.items():
                cluster_grants[key] |= verbs
        else:
            if meta.get("namespace") != args.namespace:
                err(f"{where}: Role outside the release namespace {args.namespace}")
            for key, verbs in g.items():
                extra = verbs - ROLE_ALLOWED.get(key, set())
                if extra:
                    err(f"{where}: {key[0] or 'core'}/{key[1]} grants {sorted(extra)} beyond {sorted(ROLE_ALLOWED.get(key, set()))}")
            for key, verbs in ROLE_ALLOWED.items():
                missing = verbs - g.get(key, set())
                if missing:
                    err(f"{where}: {key[0] or 'core'}/{key[1]} is missing {sorted(missing)}")

    if any(r["kind"] == "ClusterRole" for r in roles):
        for key, verbs in REQUIRED_CLUSTER.items():
            missing = verbs - cluster_grants.get(key, set())
            if missing:
                err(f"ClusterRole: {key[0] or 'core'}/{key[1]} is missing {sorted(missing)}")
        for key, verbs in cluster_grants.items():
            writes = verbs - READ
            allowed = set(ALLOWED_CLUSTER_WRITES.get(key, set()))
            if enforcement:
                allowed |= ENFORCEMENT_WRITES.get(key, set())
            extra = writes - allowed
            if extra:
                why = "" if enforcement or key not in ENFORCEMENT_WRITES else " (enforcement is off)"
                err(f"ClusterRole: {key[0] or 'core'}/{key[1]} grants write verbs {sorted(extra)}{why}")
        if enforcement:
            for key, verbs in ENFORCEMENT_WRITES.items():
                missing = verbs - cluster_grants.get(key, set())
                if missing:
                    err(f"ClusterRole: enforcement is on but {key[0] or 'core'}/{key[1]} is missing {sorted(missing)}")

    defined = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]) for r in roles}
    for b in bindings:
        meta, ref = b["metadata"], b["roleRef"]
        where = f"{b['kind']} {meta['name']}"
        ns = meta.get("namespace") if ref["kind"] == "Role" else None
        if (ref["kind"], ns, ref["name"]) not in defined:
            err(f"{where}: roleRef {ref['kind']} {ref['name']} is not rendered by the chart")
        for s in b.get("subjects") or []:
            if s.get("kind") != "ServiceAccount" or s.get("namespace") != args.namespace:
                err(f"{where}: subject {s} is not a ServiceAccount in {args.namespace}")
            elif sas and (s["namespace"], s["name"]) not in sas:
                err(f"{where}: subject ServiceAccount {s['name']} is not the chart's")

    for e in errors:
        print(f"check_rbac: FAIL: {e}")
    # The chart must grant exactly what the operator documents in config/rbac/.
    repo = Path(__file__).resolve().parent.parent
    documented: dict[tuple[str, str], set[str]] = defaultdict(set)
    files = ["clusterrole.yaml"] + (["clusterrole-enforcement.yaml"] if enforcement else [])
    for name in files:
        for doc in load(str(repo / "config" / "rbac" / name)):
            for k, v in grants(doc.get("rules")).items():
                documented[k] |= v
    rendered: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in roles:
        if r["kind"] == "ClusterRole":
            for k, v in grants(r.get("rules")).items():
                rendered[k] |= v
    # Optional sources (the chart's `sources.*`): documented in clusterrole-sources.yaml, each
    # read-only and counted only when the rendering grants that resource.
    for doc in load(str(repo / "config" / "rbac" / "clusterrole-sources.yaml")):
        for k, v in grants(doc.get("rules")).items():
            if k in rendered:
                documented[k] |= v
    if dict(rendered) != dict(documented):
        diff = sorted(k for k in set(rendered) | set(documented) if rendered.get(k) != documented.get(k))
        msg = f"chart ClusterRole rules differ from config/rbac/ at {diff}"
        print(f"check_rbac: FAIL: {msg}")
        errors.append(msg)
    if errors:
        return 1
    print(f"check_rbac: ok: {len(roles)} roles, {len(bindings)} bindings, enforcement {args.enforcement}, "
          f"no wildcards, secrets only in {args.namespace}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
