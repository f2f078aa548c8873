# One target per job. `.ci/run` runs the lint steps and then `make test`.
CARGO ?= cargo
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: run sandbox test lint fmt bench ci tools

## run: `tether up`: a sandbox cluster, the agent, and a demo Git repository whose three
## Applications (plain YAML, Kustomize, Helm) sync; state lives in .tether/.
## The dev profile shares its build with `make test`; `cargo build --release` gives the fast binary.
run: tools
	$(CARGO) run -p tether -- up

## sandbox: only the sandbox (a local Kubernetes API), printing how to point kubectl at it.
sandbox:
	$(CARGO) run -p tether -- sandbox

## test: every test, unit and integration (needs kubectl; `make tools` installs what is missing)
test: tools
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

## lint: formatting and clippy with warnings denied
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: sandbox throughput and memory, the engine against kubectl, render against
## kubectl kustomize / helm template, the server (webhook push → applied, notifications,
## the list at 10,000 apps, the stream's fan-out and idle cost), the dashboard in headless
## Chromium (the apps page at 10,000 apps, an app of 500 objects); figures go to BENCHMARKS.md
bench: tools
	$(CARGO) bench -p tether-sandbox --bench sandbox
	$(CARGO) bench -p tether --bench engine
	$(CARGO) bench -p tether-render --bench render
	$(CARGO) bench -p tether --bench webhook
	$(CARGO) bench -p tether --bench notify
	$(CARGO) bench -p tether --bench api_list
	$(CARGO) bench -p tether --bench stream
	$(CARGO) bench -p tether --bench dashboard

## tools: install what the tests need on a fresh machine
tools:
	bash scripts/install-tools.sh

ci: lint test
