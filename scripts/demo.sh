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
echo
echo "Evidence store: $store"
echo "Period report:  $out/report.html (also report.md, assessment-results.oscal.json)"
