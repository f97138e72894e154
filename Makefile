# Kanaria's developer entry points. `make demo` and `make test` are the two
# commands README.md promises; everything else supports them.

SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS_DIR := $(CURDIR)/hack/tools
CONTROLLER_GEN := $(BIN)/controller-gen
# End-to-end packages start a real control plane; its first build takes
# minutes on two cores, so the test timeout is generous. Tests never assert
# on wall-clock speed. -count=1: the end-to-end tests build the kanaria
# binary and use Prometheus and Chromium at run time, which Go's test cache
# does not see, so a cached pass would prove nothing.
TEST_TIMEOUT ?= 45m
TEST_FLAGS ?=

.PHONY: all build generate verify-generate fmt-check vet lint tools browser-deps fuzz test unit-test demo demo-down faults clean

all: build

build: ## Build the kanaria binary into bin/.
	$(GO) build -o $(BIN)/kanaria ./cmd/kanaria
	ln -sf kanaria $(BIN)/kubectl-kanaria

$(CONTROLLER_GEN): $(TOOLS_DIR)/go.mod $(TOOLS_DIR)/go.sum
	cd $(TOOLS_DIR) && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

generate: $(CONTROLLER_GEN) ## Regenerate deepcopy functions and CRDs from the API types.
	hack/generate.sh $(CONTROLLER_GEN) .

verify-generate: $(CONTROLLER_GEN) ## Fail when checked-in generated code differs from what generate writes.
	hack/verify-generated.sh $(CONTROLLER_GEN)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^hack/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint: fmt-check vet

tools: build ## Build (once, then cached) the local control plane's binaries.
	$(BIN)/kanaria dev tools

unit-test: ## Only the tests that need no cluster.
	$(GO) test -short ./...

browser-deps: ## playwright-core for the dashboard's browser test (skipped without npm).
	@if command -v npm >/dev/null 2>&1 && [ ! -d test/browser/node_modules/playwright-core ]; then \
		cd test/browser && npm ci --no-audit --no-fund --loglevel=error; fi

# Each fuzz target runs for a bounded time on every test run; a crasher it
# finds is written under the package's testdata/fuzz and fails the run, and
# the kept corpus runs again as plain tests in `go test`.
FUZZ_TIME ?= 15s

fuzz: ## Fuzz the decision and the pod-template hash for FUZZ_TIME each.
	$(GO) test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZ_TIME) ./internal/rollout/decide
	$(GO) test -run '^$$' -fuzz '^FuzzEncodings$$' -fuzztime $(FUZZ_TIME) ./internal/rollout/podhash

test: lint verify-generate tools browser-deps fuzz ## Everything CI runs: checks, fuzzing, unit and end-to-end tests.
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

demo: build tools ## Start the local cluster, the controller and an example rollout.
	$(BIN)/kanaria demo

# The fault suite at full size on a local cluster of its own; CI runs a
# bounded one (TestFaultSuiteBounded). See docs/reliability.md.
FAULT_RELEASES ?= 200
FAULT_FLAGS ?=

faults: build tools ## Release Rollouts while killing the controller and restarting the API server; fails on any violation.
	$(BIN)/kanaria bench faults --releases $(FAULT_RELEASES) $(FAULT_FLAGS)

demo-down: build ## Stop the demo cluster.
	$(BIN)/kanaria dev down --name demo

clean:
	rm -rf $(BIN)
