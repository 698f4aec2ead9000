#!/usr/bin/env python3
"""Validates rendered soc2-operator manifests offline.

Usage: validate_manifests.py RENDERED.yaml [--namespace NS] [--k8s-version 1.37 ...]
                             [--crds-dir crds/]

For every object in the file:
  - built-in kinds are validated against the Kubernetes JSON schemas bundled with the
    kubernetes-validate package, in strict mode (unknown fields are errors), for each
    --k8s-version; a kind with no schema is an error;
  - custom resources (soc2.evidence.dev, monitoring.coreos.com) only have to parse, unless
    --crds-dir holds their CRD, in which case they are also validated against its
    openAPIV3Schema;
  - namespaced objects must carry metadata.namespace == --namespace (kubectl apply of the
    rendered file must not depend on the current context).
Then the chart's invariants: the operator pod is Pod Security `restricted` and runs as 65532
with a read-only root, probes and the `run` arguments are right, the Grafana dashboard is valid
JSON over the operator's metrics, the PrometheusRule has its five alerts, the ServiceMonitor
selects the metrics Service.

Exit 1 with one line per problem; prints one summary line when all is well.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import re
import sys

import jsonschema
import yaml
from kubernetes_validate import utils as kv

CUSTOM_GROUPS = {"soc2.evidence.dev", "monitoring.coreos.com", "cert-manager.io"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "Soc2Control", "EvidencePolicy", "PersistentVolume", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "PriorityClass",
}
METRICS = [
    "soc2_control_compliant",
    "soc2_control_failing_resources",
    "soc2_evaluation_duration_seconds",
    "soc2_evidence_snapshots_total",
    "soc2_evidence_last_success_timestamp_seconds",
]
ALERTS = {
    "Soc2ControlNonCompliant": "soc2_control_compliant",
    "Soc2EvidenceSnapshotFailing": "soc2_evidence_snapshots_total",
    "Soc2EvidenceStale": "soc2_evidence_last_success_timestamp_seconds",
    "Soc2OperatorDown": "up",
    "Soc2FindingOverdue": "soc2_findings_overdue",
}
PROM_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def name_of(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def openapi_to_jsonschema(node):
    """Turns a CRD's structural OpenAPI v3 schema into JSON Schema: nullable, int-or-string, and
    unknown fields refused where the API server's strict field validation refuses them."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    # The API server's strict field validation (kubectl's default) refuses unknown fields.
    if "properties" in out and "additionalProperties" not in out \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def load_crd_schemas(crds_dir: str | None) -> dict[tuple[str, str], dict]:
    schemas: dict[tuple[str, str], dict] = {}
    if not crds_dir or not os.path.isdir(crds_dir):
        return schemas
    for path in sorted(glob.glob(os.path.join(crds_dir, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec.get("versions", []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema:
                        key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                        converted = openapi_to_jsonschema(schema)
                        # The API server supplies these; generated schemas often leave them out.
                        props = converted.setdefault("properties", {})
                        props.setdefault("apiVersion", {"type": "string"})
                        props.setdefault("kind", {"type": "string"})
                        props.setdefault("metadata", {"type": "object"})
                        schemas[key] = converted
    return schemas


def validate_builtin(obj: dict, versions: list[str], err) -> None:
    for version in versions:
        try:
            kv.validate(copy.deepcopy(obj), version, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            err(f"{name_of(obj)}: invalid for Kubernetes {e.version}: {path}: {e.message}")
        except kv.SchemaNotFoundError as e:
            err(f"{name_of(obj)}: {e.message}")
        except kv.VersionNotSupportedError as e:
            err(f"kubernetes-validate has no schemas for Kubernetes {e.version}")


def check_pod(obj: dict, err) -> None:
    where = name_of(obj)
    pod = obj["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != 65532:
        err(f"{where}: pod securityContext must set runAsNonRoot: true and runAsUser: 65532")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        err(f"{where}: pod seccompProfile must be RuntimeDefault")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            err(f"{where}: {key} is set")
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for v in volumes.values():
        if "hostPath" in v:
            err(f"{where}: hostPath volume {v['name']}")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        err(f"{where}: expected one container, found {len(containers)}")
    for c in containers + (pod.get("initContainers") or []):
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            err(f"{cw}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            err(f"{cw}: readOnlyRootFilesystem must be true")
        if sc.get("privileged"):
            err(f"{cw}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
            err(f"{cw}: capabilities must drop ALL and add none")
        if sc.get("runAsUser", 65532) != 65532 or sc.get("runAsNonRoot") is False:
            err(f"{cw}: must run as 65532, non-root")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    err(f"{cw}: resources.{kind}.{r} is not set")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
            err(f"{cw}: /tmp must be a writable emptyDir")
    if not containers:
        return
    c = containers[0]
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != path or get.get("port") not in ("metrics", ports.get("metrics")):
            err(f"{where}: {probe} must GET {path} on the metrics port")
    args = c.get("args") or []
    if args[:1] != ["run"]:
        err(f"{where}: args must start with `run`, got {args[:1]}")
    flags = {a: args[i + 1] if i + 1 < len(args) else None for i, a in enumerate(args) if a.startswith("--")}
    if flags.get("--namespace") != "$(POD_NAMESPACE)":
        err(f"{where}: --namespace must be $(POD_NAMESPACE)")
    addr = flags.get("--metrics-addr") or ""
    if addr != f"0.0.0.0:{ports.get('metrics')}":
        err(f"{where}: --metrics-addr {addr!r} does not match the metrics containerPort {ports.get('metrics')}")
    for flag in ("--cluster-name", "--lease-name"):
        if not flags.get(flag):
            err(f"{where}: {flag} is missing")
    if "--audit-listen" in flags:
        check_audit_receiver(where, c, flags, ports, volumes, err)
    env = {e["name"]: e for e in c.get("env") or []}
    for name, field in (("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name")):
        if ((env.get(name) or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") != field:
            err(f"{where}: env {name} must come from the downward API ({field})")


def check_dashboard(obj: dict, err) -> None:
    for key, text in (obj.get("data") or {}).items():
        try:
            dash = json.loads(text)
        except json.JSONDecodeError as e:
            err(f"{name_of(obj)}: {key} is not valid JSON: {e}")
            continue
        if not dash.get("uid") or not dash.get("title") or not dash.get("panels"):
            err(f"{name_of(obj)}: {key} lacks uid, title or panels")
        exprs = json.dumps([p.get("targets") for p in dash.get("panels", [])])
        for metric in METRICS:
            if metric not in exprs:
                err(f"{name_of(obj)}: {key} has no panel over {metric}")


def check_prometheus_rule(obj: dict, err) -> None:
    rules = [r for g in obj["spec"].get("groups", []) for r in g.get("rules", [])]
    by_name = {r.get("alert"): r for r in rules}
    for alert, metric in ALERTS.items():
        rule = by_name.get(alert)
        if not rule:
            err(f"{name_of(obj)}: alert {alert} is missing")
            continue
        if metric not in rule.get("expr", ""):
            err(f"{name_of(obj)}: alert {alert} expr does not use {metric}: {rule.get('expr')}")
        if "for" in rule and not PROM_DURATION.match(str(rule["for"])):
            err(f"{name_of(obj)}: alert {alert} has an invalid `for`: {rule['for']}")
        if not (rule.get("labels") or {}).get("severity"):
            err(f"{name_of(obj)}: alert {alert} has no severity label")
        if (rule.get("expr") or "").count("(") != (rule.get("expr") or "").count(")"):
            err(f"{name_of(obj)}: alert {alert} has unbalanced parentheses")


def check_audit_receiver(where: str, c: dict, flags: dict, ports: dict, volumes: dict, err) -> None:
    """The audit-event receiver: its port, HTTPS from a mounted Secret, client authentication."""
    addr = flags.get("--audit-listen") or ""
    if addr != f"0.0.0.0:{ports.get('audit-events')}":
        err(f"{where}: --audit-listen {addr!r} does not match the audit-events containerPort {ports.get('audit-events')}")
    if "--audit-insecure-http" in flags:
        err(f"{where}: the chart must never serve the audit receiver over plain HTTP")
    if not (flags.get("--audit-tls-cert") and flags.get("--audit-tls-key")):
        err(f"{where}: --audit-tls-cert and --audit-tls-key are required with --audit-listen")
    if not (flags.get("--audit-token-file") or flags.get("--audit-client-ca")):
        err(f"{where}: --audit-listen without --audit-token-file or --audit-client-ca (the operator refuses to start)")
    mounts = c.get("volumeMounts") or []
    for flag in ("--audit-tls-cert", "--audit-tls-key", "--audit-token-file", "--audit-client-ca"):
        path = flags.get(flag)
        if not path:
            continue
        m = [m for m in mounts if path.startswith(m["mountPath"].rstrip("/") + "/")]
        if not m:
            err(f"{where}: {flag} {path} is not under a volumeMount")
            continue
        if m[0].get("subPath"):
            err(f"{where}: {flag} is mounted with subPath, which the kubelet never updates (rotation breaks)")
        if "secret" not in volumes.get(m[0]["name"], {}):
            err(f"{where}: {flag} {path} is not from a Secret volume")


def check_service_monitor(obj: dict, docs: list[dict], err) -> None:
    match = obj["spec"]["selector"].get("matchLabels") or {}
    services = [d for d in docs if d.get("kind") == "Service"
                and match.items() <= ((d["metadata"].get("labels") or {}).items())]
    if len(services) != 1:
        err(f"{name_of(obj)}: selector {match} matches {len(services)} Services, expected 1")
        return
    ports = {p.get("name") for p in services[0]["spec"].get("ports", [])}
    for ep in obj["spec"].get("endpoints", []):
        if ep.get("port") not in ports:
            err(f"{name_of(obj)}: endpoint port {ep.get('port')} is not a port of {name_of(services[0])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rendered")
    ap.add_argument("--namespace", default="soc2-system")
    ap.add_argument("--k8s-version", action="append", dest="versions")
    ap.add_argument("--crds-dir")
    ap.add_argument("--objects-only", action="store_true",
                    help="validate the objects only: no namespace rule, no chart invariants")
    args = ap.parse_args()
    versions = args.versions or [kv.latest_version()]

    errors: list[str] = []
    err = errors.append
    try:
        with open(args.rendered, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        print(f"validate_manifests: FAIL: {args.rendered} does not parse as YAML: {e}")
        return 1

    crd_schemas = load_crd_schemas(args.crds_dir)
    seen: set[tuple[str, str, str, str]] = set()
    counts = {"builtin": 0, "custom-schema": 0, "custom-parsed": 0}
    for i, obj in enumerate(docs):
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            err(f"document {i}: not a Kubernetes object (no apiVersion/kind)")
            continue
        meta = obj.get("metadata") or {}
        if not meta.get("name"):
            err(f"document {i} ({obj['kind']}): no metadata.name")
            continue
        key = (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
        if key in seen:
            err(f"{name_of(obj)}: rendered twice")
        seen.add(key)
        kind = obj["kind"]
        if args.objects_only:
            validate_builtin(obj, versions, err)
            counts["builtin"] += 1
            continue
        is_dashboard = kind == "ConfigMap" and "grafana_dashboard" in (meta.get("labels") or {})
        if kind in CLUSTER_SCOPED:
            if "namespace" in meta:
                err(f"{name_of(obj)}: cluster-scoped object carries a namespace")
        elif meta.get("namespace") != args.namespace and not is_dashboard:
            err(f"{name_of(obj)}: metadata.namespace must be {args.namespace}")

        if group_of(obj["apiVersion"]) in CUSTOM_GROUPS:
            schema = crd_schemas.get((obj["apiVersion"], kind))
            if schema:
                for e in sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str):
                    path = ".".join(str(p) for p in e.path)
                    err(f"{name_of(obj)}: does not match its CRD schema: {path}: {e.message}")
                counts["custom-schema"] += 1
            else:
                if not isinstance(obj.get("spec"), dict):
                    err(f"{name_of(obj)}: custom resource without a spec mapping")
                counts["custom-parsed"] += 1
        else:
            validate_builtin(obj, versions, err)
            counts["builtin"] += 1

        if kind == "Deployment":
            check_pod(obj, err)
        elif is_dashboard:
            check_dashboard(obj, err)
        elif kind == "PrometheusRule":
            check_prometheus_rule(obj, err)
        elif kind == "ServiceMonitor":
            check_service_monitor(obj, docs, err)
        elif kind == "Certificate":
            # No cert-manager CRD in the chart: check the fields cert-manager requires.
            spec = obj.get("spec") or {}
            if not spec.get("secretName") or not (spec.get("issuerRef") or {}).get("name"):
                err(f"{name_of(obj)}: spec.secretName and spec.issuerRef.name are required")
            if not (spec.get("dnsNames") or spec.get("ipAddresses") or spec.get("commonName")):
                err(f"{name_of(obj)}: no dnsNames, ipAddresses or commonName")
        elif kind == "EvidencePolicy":
            spec = obj.get("spec") or {}
            if ("schedule" in spec) == ("interval" in spec):
                err(f"{name_of(obj)}: set exactly one of spec.schedule and spec.interval")

    if not args.objects_only and not any(d.get("kind") == "Deployment" for d in docs if isinstance(d, dict)):
        err("no Deployment rendered")

    for e in errors:
        print(f"validate_manifests: FAIL: {args.rendered}: {e}")
    if errors:
        return 1
    print(f"validate_manifests: ok: {args.rendered}: {len(docs)} objects; {counts['builtin']} built-in valid "
          f"(strict) for Kubernetes {', '.join(versions)}; {counts['custom-schema']} custom resources valid "
          f"against their CRD; {counts['custom-parsed']} custom resources parsed only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
