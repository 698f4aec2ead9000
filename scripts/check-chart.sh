#!/usr/bin/env bash
# Checks the Helm chart, offline:
#   - helm lint --strict with default values and with each charts/soc2-operator/ci/*-values.yaml;
#   - helm template of each; every rendered built-in object validated against the Kubernetes JSON
#     schemas (strict) of the oldest supported and the newest bundled Kubernetes version; custom
#     resources parsed (and validated against their CRD when the chart carries it); the chart's
#     invariants (restricted pod, probes, args, dashboard, alerts): scripts/validate_manifests.py;
#   - the RBAC is least privilege, with and without enforcement: scripts/check_rbac.py;
#   - values the chart must refuse are refused (strict values.schema.json, template guards);
#   - the baseline control library renders (with a fixture control when the chart has none);
#   - charts/soc2-operator/crds/ equals crds/ byte for byte (scripts/sync-chart-crds.sh);
#   - files/baseline/ equals config/baseline/ when config/baseline/ exists
#     (scripts/sync-chart-baseline.sh);
#   - config/deploy/install.yaml equals a fresh scripts/render-install.sh;
#   - the chart's appVersion equals the crate version.
# Ends with one line `chart-checks: N passed, M failed[, K skipped]`; exits 1 if any failed.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))"
cd "$ROOT"

bash scripts/install-tools.sh

HELM="$ROOT/.tools/bin/helm"
PY="$ROOT/.tools/venv/bin/python"
CHART="charts/soc2-operator"
NS="soc2-system"
RELEASE="soc2-operator"
# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest with bundled schemas.
K8S_VERSIONS=(--k8s-version 1.26 --k8s-version 1.37)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0
failures=()
n=0

# check NAME CMD...: runs CMD, counts it, shows its output only when it fails.
check() {
  local name="$1"
  shift
  n=$((n + 1))
  local log="$work/log.$n"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$log"
  fi
}

skip() {
  skipped=$((skipped + 1))
  printf 'skip  %s\n' "$1"
}

# expect_refused PATTERN CMD...: CMD must fail and its output must match PATTERN.
expect_refused() {
  local pattern="$1"
  shift
  local out
  if out="$("$@" 2>&1)"; then
    echo "expected a refusal, but it rendered"
    return 1
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    echo "refused, but not with /$pattern/:"
    echo "$out"
    return 1
  fi
}

render() { # render OUT [helm args...]
  local out="$1"
  shift
  "$HELM" template "$RELEASE" "$@" --namespace "$NS" >"$out"
}

validate() { "$PY" scripts/validate_manifests.py "$1" --namespace "$NS" --crds-dir "$CHART/crds" "${K8S_VERSIONS[@]}"; }

rbac() { "$PY" scripts/check_rbac.py "$1" --namespace "$NS" --enforcement "$2"; }

enforcement_of() { # values file -> on|off
  "$PY" -c 'import sys, yaml; v = yaml.safe_load(open(sys.argv[1])) or {}; print("on" if (v.get("enforcement") or {}).get("enabled") else "off")' "$1"
}

# --- lint, render, validate --------------------------------------------------------------------
check "helm lint --strict (default values)" "$HELM" lint --strict "$CHART"
check "render (default values)" render "$work/default.yaml" "$CHART"
check "validate rendered manifests (default values)" validate "$work/default.yaml"
check "RBAC least privilege (default values, enforcement off)" rbac "$work/default.yaml" off

for values in "$CHART"/ci/*-values.yaml; do
  label="$(basename "$values")"
  out="$work/${label%.yaml}.rendered.yaml"
  check "helm lint --strict ($label)" "$HELM" lint --strict "$CHART" -f "$values"
  check "render ($label)" render "$out" "$CHART" -f "$values"
  check "validate rendered manifests ($label)" validate "$out"
  check "RBAC least privilege ($label, enforcement $(enforcement_of "$values"))" rbac "$out" "$(enforcement_of "$values")"
done

check "render (enforcement.enabled=true only)" render "$work/enforce.yaml" "$CHART" --set enforcement.enabled=true
check "RBAC least privilege (enforcement.enabled=true only)" rbac "$work/enforce.yaml" on

# --- what the chart must refuse --------------------------------------------------------------
check "values schema refuses unknown keys" \
  expect_refused "additional properties|additionalProperties|not allowed" \
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" --set enforcment.enabled=true
check "values schema refuses a bad logFormat" \
  expect_refused "logFormat" "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" --set logFormat=xml
check "S3 evidence without a bucket is refused" \
  expect_refused "bucket" "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" \
  --set evidence.enabled=true --set evidence.storage.type=s3
check "local ReadWriteOnce evidence with 2 replicas is refused" \
  expect_refused "ReadWriteMany" "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" \
  --set evidence.enabled=true --set replicaCount=2

check "audit receiver without a TLS certificate is refused" \
  expect_refused "auditEvents.tls.secretName" "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" \
  --set auditEvents.enabled=true --set auditEvents.token.secretName=t
check "audit receiver without client authentication is refused" \
  expect_refused "client authentication" "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" \
  --set auditEvents.enabled=true --set auditEvents.tls.secretName=tls
check "audit receiver cert-manager Certificate without an issuer is refused" \
  expect_refused "issuerRef.name" "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" \
  --set auditEvents.enabled=true --set auditEvents.certManager.enabled=true \
  --set auditEvents.token.secretName=t

# --- audit-event receiver: off by default, complete when on -----------------------------------
# audit_shape RENDERED on|off: with the receiver on, the Deployment has its port, flags and Secret
# volumes, a Service exposes it, the NetworkPolicy (when rendered) admits it, a cert-manager
# Certificate exists only when asked, and the ServiceMonitor still scrapes only the metrics port.
# Off: none of that is rendered.
audit_shape() {
  "$PY" - "$1" "$2" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
on = sys.argv[2] == "on"
[dep] = [d for d in docs if d["kind"] == "Deployment"]
c = dep["spec"]["template"]["spec"]["containers"][0]
args = c["args"]
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
audit_svcs = [d for d in docs if d["kind"] == "Service"
              and any(p.get("targetPort") == "audit-events" for p in d["spec"]["ports"])]
certs = [d for d in docs if d["kind"] == "Certificate"]
netpols = [d for d in docs if d["kind"] == "NetworkPolicy"]
monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
if not on:
    assert not [a for a in args if a.startswith("--audit")], args
    assert "audit-events" not in ports and not audit_svcs and not certs, "receiver rendered while off"
    for np in netpols:
        assert all(p["port"] != "audit-events" for r in np["spec"]["ingress"] for p in r["ports"])
    print("auditEvents off: no receiver port, flags, Service or Certificate")
    sys.exit(0)
assert "audit-events" in ports, ports
assert "--audit-listen" in args and "--audit-tls-cert" in args and "--audit-tls-key" in args, args
assert "--audit-insecure-http" not in args
assert len(audit_svcs) == 1, f"{len(audit_svcs)} audit Services"
volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
tls_secret = volumes["audit-tls"]["secret"]["secretName"]
if certs:
    [cert] = certs
    assert cert["spec"]["secretName"] == tls_secret, (cert["spec"]["secretName"], tls_secret)
    svc = audit_svcs[0]["metadata"]["name"]
    assert svc in cert["spec"]["dnsNames"], cert["spec"]["dnsNames"]
for np in netpols:
    rules = [r for r in np["spec"]["ingress"] if any(p["port"] == "audit-events" for p in r["ports"])]
    assert len(rules) == 1, "the NetworkPolicy does not admit the audit-events port"
for m in monitors:
    assert [e["port"] for e in m["spec"]["endpoints"]] == ["metrics"], "ServiceMonitor changed"
print(f"auditEvents on: port {ports['audit-events']}, Service {audit_svcs[0]['metadata']['name']}, "
      f"TLS Secret {tls_secret}, {len(certs)} Certificate(s), {len(netpols)} NetworkPolicy(ies)")
PY
}
check "audit receiver off by default (default values)" audit_shape "$work/default.yaml" off
check "audit receiver complete when on (all-features-values.yaml: cert-manager, token, client CA)" \
  audit_shape "$work/all-features-values.rendered.yaml" on
check "audit receiver complete when on (audit-events-values.yaml: existing Secret, token)" \
  audit_shape "$work/audit-events-values.rendered.yaml" on

# --- baseline library --------------------------------------------------------------------------
baseline_fixture() {
  # A copy of the chart with two fixture controls, one excluded, enforcement overridden.
  local chart="$work/chart-baseline"
  rm -rf "$chart" && cp -r "$CHART" "$chart" || return 1
  cat >"$chart/files/baseline/zz-check-fixture.yaml" <<'YAML' || return 1
# fixture written by scripts/check-chart.sh
apiVersion: soc2.evidence.dev/v1alpha1
kind: Soc2Control
metadata:
  name: fixture-cc6-1
  labels:
    soc2.evidence.dev/criteria: security
spec:
  controlId: CC6.1
  criteria: Security
  title: Fixture
  enforcement: Audit
  checks:
    - check: network.default-deny
---
apiVersion: soc2.evidence.dev/v1alpha1
kind: Soc2Control
metadata:
  name: fixture-excluded
spec:
  controlId: CC6.3
  criteria: Security
  title: Excluded fixture
  checks:
    - check: rbac.wildcards
YAML
  render "$work/baseline.yaml" "$chart" --set baseline.enforcement=Enforce \
    --set 'baseline.exclude[0]=fixture-excluded' --set 'baseline.labels.library=baseline' || return 1
  validate "$work/baseline.yaml" || return 1
  "$PY" - "$work/baseline.yaml" <<'PY' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
controls = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Soc2Control"}
assert "fixture-excluded" not in controls, "baseline.exclude was ignored"
c = controls.get("fixture-cc6-1")
assert c, f"fixture control not rendered: {sorted(controls)}"
assert c["spec"]["enforcement"] == "Enforce", "baseline.enforcement was not applied"
labels = c["metadata"]["labels"]
for k, v in {"library": "baseline", "soc2.evidence.dev/criteria": "security",
             "app.kubernetes.io/component": "baseline", "app.kubernetes.io/instance": "soc2-operator"}.items():
    assert labels.get(k) == v, f"label {k}={v} missing: {labels}"
print(f"baseline: {len(controls)} control(s) rendered as expected")
PY
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-a-control\n' >"$chart/files/baseline/zz-wrong-kind.yaml" || return 1
  expect_refused "only soc2.evidence.dev/v1alpha1 Soc2Control" \
    "$HELM" template "$RELEASE" "$chart" --namespace "$NS" || return 1
}
check "baseline library renders (fixture controls, exclude, enforcement override, wrong kind refused)" baseline_fixture

baseline_real() {
  local count
  count="$(grep -c '^kind: Soc2Control' "$work/default.yaml" || true)"
  local files
  files="$(find "$CHART/files/baseline" -maxdepth 1 -name '*.yaml' | wc -l)"
  echo "default render: $count Soc2Control object(s) from $files file(s) in $CHART/files/baseline"
  if [[ "$files" -gt 0 && "$count" -eq 0 ]]; then
    echo "files/baseline has manifests but none rendered"
    return 1
  fi
}
check "baseline library in the chart renders with default values" baseline_real

# --- generated copies are current -------------------------------------------------------------
crds_in_sync() {
  if [[ ! -d crds ]]; then
    echo "crds/ does not exist: generate it with \`cargo run -- crdgen\`, then run scripts/sync-chart-crds.sh"
    return 1
  fi
  local a b
  a="$(cd crds && find . -maxdepth 1 -name '*.yaml' | sort)"
  b="$(cd "$CHART/crds" && find . -maxdepth 1 -name '*.yaml' | sort)"
  if [[ -z "$a" ]]; then
    echo "crds/ holds no *.yaml: generate it with \`cargo run -- crdgen\`"
    return 1
  fi
  if [[ "$a" != "$b" ]]; then
    echo "file lists differ (run scripts/sync-chart-crds.sh):"
    diff <(echo "$a") <(echo "$b") || true
    return 1
  fi
  local f rc=0
  for f in $a; do
    if ! cmp -s "crds/$f" "$CHART/crds/$f"; then
      echo "$CHART/crds/${f#./} differs from crds/${f#./} (run scripts/sync-chart-crds.sh)"
      rc=1
    fi
  done
  return $rc
}
check "chart crds/ equals crds/ byte for byte" crds_in_sync

crds_valid() {
  local files=("$CHART"/crds/*.yaml)
  [[ -e "${files[0]}" ]] || { echo "no CRDs in $CHART/crds"; return 1; }
  local f
  for f in "${files[@]}"; do
    "$PY" scripts/validate_manifests.py "$f" --objects-only "${K8S_VERSIONS[@]}" || return 1
  done
}
check "chart CRDs are valid CustomResourceDefinitions" crds_valid

baseline_in_sync() {
  local a b f rc=0
  a="$(cd config/baseline && find . -maxdepth 1 -name '*.yaml' | sort)"
  b="$(cd "$CHART/files/baseline" && find . -maxdepth 1 -name '*.yaml' | sort)"
  if [[ "$a" != "$b" ]]; then
    echo "file lists differ (run scripts/sync-chart-baseline.sh):"
    diff <(echo "$a") <(echo "$b") || true
    return 1
  fi
  for f in $a; do
    cmp -s "config/baseline/$f" "$CHART/files/baseline/$f" \
      || { echo "files/baseline/${f#./} differs (run scripts/sync-chart-baseline.sh)"; rc=1; }
  done
  return $rc
}
if [[ -d config/baseline ]]; then
  check "chart files/baseline/ equals config/baseline/" baseline_in_sync
else
  skip "chart files/baseline/ equals config/baseline/ (config/baseline/ does not exist yet)"
fi

install_yaml_current() {
  if [[ ! -f config/deploy/install.yaml ]]; then
    echo "config/deploy/install.yaml is missing: run scripts/render-install.sh"
    return 1
  fi
  bash scripts/render-install.sh "$work/install.yaml" >/dev/null || return 1
  if ! cmp -s "$work/install.yaml" config/deploy/install.yaml; then
    echo "config/deploy/install.yaml is stale: run scripts/render-install.sh"
    diff -u config/deploy/install.yaml "$work/install.yaml" | head -n 40 || true
    return 1
  fi
  validate config/deploy/install.yaml
}
check "config/deploy/install.yaml equals scripts/render-install.sh output" install_yaml_current

gitops_values_render() {
  # The GitOps examples must point at the chart and carry values the chart accepts.
  "$PY" - "$work" <<'PY' || return 1
import os, sys, yaml
work = sys.argv[1]
checks = {
    "config/gitops/argocd-application.yaml": ("Application", lambda d: d["spec"]["source"]["path"],
                                              lambda d: d["spec"]["source"]["helm"].get("valuesObject", {})),
    "config/gitops/flux-helmrelease.yaml": ("HelmRelease", lambda d: d["spec"]["chart"]["spec"]["chart"],
                                            lambda d: d["spec"].get("values", {})),
}
for path, (kind, chart_of, values_of) in checks.items():
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    [doc] = [d for d in docs if d["kind"] == kind]
    chart = chart_of(doc)
    if chart != "charts/soc2-operator" or not os.path.isfile(os.path.join(chart, "Chart.yaml")):
        sys.exit(f"{path}: chart path {chart!r} is not charts/soc2-operator")
    out = os.path.join(work, os.path.basename(path) + ".values.yaml")
    yaml.safe_dump(values_of(doc), open(out, "w"))
    print(out)
PY
  local f
  for f in "$work"/*.yaml.values.yaml; do
    render "$f.rendered" "$CHART" -f "$f" || return 1
    validate "$f.rendered" || return 1
  done
}
check "config/gitops examples point at the chart and their values render" gitops_values_render

app_version_matches_crate() {
  "$PY" - <<'PY'
import re, sys, tomllib, yaml
chart = yaml.safe_load(open("charts/soc2-operator/Chart.yaml"))
crate = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"]
if str(chart["appVersion"]) != crate:
    sys.exit(f"Chart.yaml appVersion {chart['appVersion']} != Cargo.toml workspace version {crate}")
print(f"appVersion {crate}")
PY
}
check "Chart.yaml appVersion equals the crate version" app_version_matches_crate

# --- summary ------------------------------------------------------------------------------------
if [[ $failed -gt 0 ]]; then
  echo
  echo "failed:"
  printf '  - %s\n' "${failures[@]}"
fi
summary="chart-checks: $passed passed, $failed failed"
[[ $skipped -gt 0 ]] && summary="$summary, $skipped skipped"
echo "$summary"
[[ $failed -eq 0 ]]
