#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls exactly this):
# tools, formatting, lints, CRD drift, unit + integration tests (incl. S3 against a local moto
# server) and chart checks. The e2e suite is not part of it: it runs only against a real cluster
# given by KUBECONFIG (see e2e/README.md; no usable API emulator exists).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test tools (idempotent)"
bash scripts/install-tools.sh
export PATH="$PWD/.tools/bin:$PATH"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "CRDs in sync with the Rust types"
cargo run --quiet --locked -- crdgen --check

step "cargo test"
cargo test --workspace --locked

if [ -x scripts/check-chart.sh ] || [ -f scripts/check-chart.sh ]; then
  step "Helm chart and install manifest checks"
  bash scripts/check-chart.sh
fi

step "all checks passed"
