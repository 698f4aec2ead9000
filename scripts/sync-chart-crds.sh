#!/usr/bin/env bash
# Copies the generated CRDs (crds/*.yaml, written by `soc2-operator crdgen`) into the chart's
# crds/ directory, byte for byte, and removes chart CRDs that no longer exist in crds/.
# scripts/check-chart.sh fails when the two directories differ.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))"
src="$ROOT/crds"
dst="$ROOT/charts/soc2-operator/crds"

shopt -s nullglob
files=("$src"/*.yaml)
if [[ ! -d "$src" || ${#files[@]} -eq 0 ]]; then
  echo "sync-chart-crds: ERROR: no CRDs in ${src#"$ROOT"/}/: generate them first with \`cargo run -- crdgen\`" >&2
  exit 1
fi

mkdir -p "$dst"
for f in "${files[@]}"; do
  name="$(basename "$f")"
  if cmp -s "$f" "$dst/$name"; then
    echo "sync-chart-crds: unchanged $name"
  else
    cp "$f" "$dst/$name"
    echo "sync-chart-crds: copied    $name"
  fi
done
for f in "$dst"/*.yaml; do
  name="$(basename "$f")"
  if [[ ! -f "$src/$name" ]]; then
    rm -f "$f"
    echo "sync-chart-crds: removed   $name (not in crds/)"
  fi
done
