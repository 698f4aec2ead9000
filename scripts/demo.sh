#!/usr/bin/env bash
# One command from a fresh clone: build, audit the bundled example cluster, write a signed
# evidence snapshot of it to ./evidence-out, verify the chain and render the period report.
# No cluster and no cloud account needed.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --locked
bin=target/debug/soc2-operator

echo "==> soc2-operator audit --manifests config/examples/demo-cluster"
set +e
"$bin" audit --manifests config/examples/demo-cluster
status=$?
set -e
echo "(audit exit status: $status — 1 means some controls fail, as planted in the demo cluster)"

out=evidence-out
keys="$out/keys"
store="$out/store"
mkdir -p "$out"
if [ ! -f "$keys/ed25519.key" ]; then
  echo; echo "==> soc2-operator keygen --out $keys"
  "$bin" keygen --out "$keys"
fi

# Each run appends a snapshot to the chain (the store is create-only).
echo; echo "==> soc2-operator evidence snapshot (signed, hash-chained) into $store"
"$bin" evidence snapshot --manifests config/examples/demo-cluster --store "$store" \
  --cluster demo --policy hourly --interval 1h --signing-key "$keys/ed25519.key" --oscal

echo; echo "==> soc2-operator evidence verify"
"$bin" evidence verify --store "$store" --public-key "$keys/ed25519.pub"

from=$(date -u -d '30 days ago' +%Y-%m-%d 2>/dev/null || echo 2026-01-01)
to=$(date -u -d 'tomorrow' +%Y-%m-%d 2>/dev/null || echo 2030-01-01)
echo; echo "==> soc2-operator report (HTML, Markdown, OSCAL) for $from .. $to"
"$bin" report --store "$store" --from "$from" --to "$to" --format html --public-key "$keys/ed25519.pub" --out "$out/report.html"
"$bin" report --store "$store" --from "$from" --to "$to" --format md --public-key "$keys/ed25519.pub" --out "$out/report.md"
"$bin" report --store "$store" --from "$from" --to "$to" --format oscal --public-key "$keys/ed25519.pub" --out "$out/assessment-results.oscal.json"

# ---------------------------------------------------------------------------------------------
# Type II: a chain over 40 days with known openings and closings, on a SIMULATED clock.
# `evidence snapshot --manifests DIR --at TIME` is the one-shot path for a folder of manifests;
# the operator itself (and `--manifests live`) always snapshots now. These snapshots record a
# manifests folder as their source, so they are NOT live: the report shows them but never counts
# them toward evidence completeness (it will say 0 of N expected live snapshots). The findings,
# deviations and remediation times are computed exactly as for a live chain.
echo; echo "==> Type II demo: a 40-day chain on a SIMULATED clock (--at), from a folder that changes"
t2="$out/type2"
rm -rf "$t2"
mkdir -p "$t2"
cluster="$t2/cluster"
cp -R config/examples/demo-cluster "$cluster"
t2store="$t2/store"
snap() { # snap DAY: one snapshot at 2026-07-01 + DAY days, 06:00 UTC
  local at
  at=$(date -u -d "2026-07-01T06:00:00Z +$1 days" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null \
    || python3 -c "import datetime,sys;print((datetime.datetime(2026,7,1,6)+datetime.timedelta(days=int(sys.argv[1]))).strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1")
  "$bin" evidence snapshot --manifests "$cluster" --store "$t2store" --cluster demo \
    --policy daily --interval 2d --signing-key "$keys/ed25519.key" --at "$at" >/dev/null
  echo "  simulated snapshot at $at${2:+  ($2)}"
}
snap 0 "baseline: the planted findings are open at period start (carried in)"
snap 2
# Day 4: a cluster-admin grant to a vendor and an unclassified namespace appear.
cat > "$cluster/80-analytics.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: analytics
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: vendor-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: support@vendor.example
YAML
snap 4 "opened: cluster-admin for support@vendor.example (Critical), namespace analytics unclassified (Medium)"
snap 6
# Day 8: the namespace is classified.
cat > "$cluster/80-analytics.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: analytics
  labels:
    data.soc2.evidence.dev/classification: internal
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: vendor-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: support@vendor.example
YAML
snap 8 "closed: namespace analytics classified (4 days)"
# Day 10: the planted plain-text password in legacy/billing-config is moved out.
sed -i.bak '/^  DB_PASSWORD: hunter2-not-a-real-password$/d' "$cluster/20-workloads.yaml"
rm -f "$cluster/20-workloads.yaml.bak"
snap 10 "closed: legacy/billing-config password (carried in)"
for d in 12 14 16 18 20 22 24 26 28 30 32 34; do snap "$d"; done
# Day 36: the vendor grant is finally removed, 32 days after it appeared (Critical SLA: 30 days).
cat > "$cluster/80-analytics.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: analytics
  labels:
    data.soc2.evidence.dev/classification: internal
YAML
snap 36 "closed: cluster-admin for support@vendor.example after 32 days (past the 30-day SLA)"
snap 38
snap 40

echo; echo "==> soc2-operator report over the simulated period (HTML, Markdown, JSON)"
for f in html md json; do
  "$bin" report --store "$t2store" --from 2026-07-01 --to 2026-08-10 --format "$f" \
    --public-key "$keys/ed25519.pub" --out "$t2/report.$f"
done
echo; echo "==> soc2-operator report --population findings --format csv"
"$bin" report --store "$t2store" --from 2026-07-01 --to 2026-08-10 --population findings \
  --format csv --public-key "$keys/ed25519.pub" --out "$t2/findings.csv"
"$bin" report --store "$t2store" --from 2026-07-01 --to 2026-08-10 --population changes \
  --format csv --public-key "$keys/ed25519.pub" --out "$t2/changes.csv"
echo; echo "==> soc2-operator report --population findings --sample 3 --seed 2026"
"$bin" report --store "$t2store" --from 2026-07-01 --to 2026-08-10 --population findings \
  --sample 3 --seed 2026 --public-key "$keys/ed25519.pub"
echo; echo "==> soc2-operator access-review (the quarter's review from the same chain)"
"$bin" access-review --store "$t2store" --public-key "$keys/ed25519.pub" --at 2026-08-10 \
  --previous 2026-07-01 --output markdown > "$t2/access-review.md"
grep -E "^(## |- )" "$t2/access-review.md" | cut -c1-160 | head -20 || true
echo; echo "Operating effectiveness (from $t2/report.md):"
grep -m1 "^Operating effectiveness" "$t2/report.md" || true

echo
echo "Evidence store: $store"
echo "Period report:  $out/report.html (also report.md, assessment-results.oscal.json)"
echo "Type II demo:   $t2/report.html (SIMULATED clock), $t2/findings.csv, $t2/changes.csv, $t2/access-review.md"
