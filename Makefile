# inmem — every target works from a clean clone with only Go installed.
GO      ?= go
PKGS    := ./...
BENCH   ?= .
BENCHTIME ?= 1s
FUZZTIME ?= 30s

.PHONY: all build test race lint vet fmt tidy contrib demo bench compare fuzz stress clean

all: build test

build:
	$(GO) build $(PKGS)

# What CI runs: lint (gofmt + vet + tidy), then the whole suite with the race detector, then
# the Prometheus collector's module (contrib/prometheus, a module of its own so that its
# dependency stays out of the engine's).
test: lint race contrib

contrib:
	cd contrib/prometheus && $(GO) mod tidy -diff && $(GO) vet ./... && $(GO) test -race -count=1 ./...

race:
	$(GO) test -race -count=1 -timeout 8m $(PKGS)

lint: fmt vet tidy

# go.mod and go.sum say exactly what the code imports (direct dependencies not marked indirect).
tidy:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

fmt:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

demo:
	$(GO) run ./cmd/inmem demo

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(PKGS)

# inmem against pebble, badger, bbolt, SQLite and a raw fdatasync baseline (the bench/ module,
# its own dependencies): a table, and the chart in bench/chart.svg. About 4 minutes.
compare:
	cd bench && $(GO) run . -duration 3s -svg chart.svg

# Each fuzz target briefly; FUZZTIME=10m for a longer run.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# The randomized suites of stress/, each mode for STRESS_DURATION (in-process, InMemory,
# simulated power loss with writes kept in order or pages reordered, injected faults, SIGKILL
# crash loop; each prints its report), then the root package's crash suites with many more
# SIGKILL cycles (STRESS_CYCLES per durability mode, each child snapshotting back to back, so
# that recoveries start from snapshots cut while commits were in flight) and
# crash-simulating-filesystem seeds, and the adversarial-directory test with more seeds and
# rounds (without -race: make test runs them with it). About 15 minutes with the defaults;
# STRESS_DURATION=30m for a long run. The SIGKILL suite starts a fresh directory every 10
# cycles (a snapshot carries the whole journal, so a cycle costs more the longer its
# directory's history): its time grows linearly with STRESS_CYCLES, about a tenth of a second
# a cycle and mode.
STRESS_DURATION ?= 2m
STRESS_CYCLES ?= 300
STRESS_SEEDS ?= 200
stress:
	INMEM_STRESS_DURATION=$(STRESS_DURATION) $(GO) test -v -count=1 -timeout 0 \
	  -run 'TestInProcess|TestInMemory|TestCrashFS|TestFaults|TestCrashLoop' ./stress
	INMEM_CRASH_CYCLES=$(STRESS_CYCLES) INMEM_CRASHFS_SEEDS=$(STRESS_SEEDS) \
	  INMEM_ADVERSARIAL_SEEDS=20 INMEM_ADVERSARIAL_ROUNDS=100 \
	  $(GO) test -count=1 -timeout 30m -run 'Crash|Adversarial' .

clean:
	$(GO) clean -testcache
