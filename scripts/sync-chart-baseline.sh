#!/usr/bin/env bash
# Copies the SOC 2 baseline control library (config/baseline/*.yaml) into the chart
# (charts/soc2-operator/files/baseline/), byte for byte, and removes chart copies that no longer
# exist in config/baseline/. scripts/check-chart.sh fails when the two differ.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))"
src="$ROOT/config/baseline"
dst="$ROOT/charts/soc2-operator/files/baseline"

if [[ ! -d "$src" ]]; then
  echo "sync-chart-baseline: ERROR: ${src#"$ROOT"/}/ does not exist" >&2
  exit 1
fi
shopt -s nullglob
mkdir -p "$dst"
for f in "$src"/*.yaml; do
  name="$(basename "$f")"
  if cmp -s "$f" "$dst/$name"; then
    echo "sync-chart-baseline: unchanged $name"
  else
    cp "$f" "$dst/$name"
    echo "sync-chart-baseline: copied    $name"
  fi
done
for f in "$dst"/*.yaml; do
  name="$(basename "$f")"
  if [[ ! -f "$src/$name" ]]; then
    rm -f "$f"
    echo "sync-chart-baseline: removed   $name (not in config/baseline/)"
  fi
done
