# berth: see README.md. `make setup` once, then `make test`.
SHELL := /bin/bash
GO    ?= go

TRAEFIK = $$(bash $(CURDIR)/e2e/scripts/build-traefik.sh)
KAMAL_PROXY = $$(bash $(CURDIR)/e2e/scripts/build-kamal-proxy.sh)

# Packages go test runs at once (its default is one per CPU): every race-detector test binary and its link take
# hundreds of MiB, so a laptop with many CPUs would multiply them; 4 keeps `make test` within 4 GiB.
TEST_P ?= $(shell n=$$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2); echo $$((n < 4 ? n : 4)))

.PHONY: setup traefik test unit yaegi e2e bench demo walkthrough hooks fuzz fmt

setup:
	bash scripts/setup.sh

traefik:
	@bash e2e/scripts/build-traefik.sh

## test: everything: unit tests, the plugin under Yaegi, and the real Traefik end-to-end tests; then the peak
## resident memory of the whole run (every process it started, summed: scripts/peak-memory.sh).
test:
	@bash scripts/peak-memory.sh $(MAKE) --no-print-directory unit e2e

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 -p $(TEST_P) ./...

## yaegi: the behaviour tests against the plugin interpreted as Traefik does it.
yaegi:
	cd e2e && $(GO) test -count=1 ./yaegi/...

e2e:
	cd e2e && $(GO) vet ./... && BERTH_TRAEFIK="$(TRAEFIK)" $(GO) test -count=1 -p $(TEST_P) -timeout 30m ./...

## bench: wrk against the real Traefik (no middleware, berth live, berth maintenance) and kamal-proxy v0.9.2 in the
## same rounds, memory on 1/10/50 apps, a growth check (ARGS=-soak=10m -reloads=500 for the long one); Go benchmarks.
bench:
	cd e2e && BERTH_TRAEFIK="$(TRAEFIK)" BERTH_KAMAL_PROXY="$(KAMAL_PROXY)" $(GO) run ./cmd/bench $(ARGS)
	cd e2e && $(GO) test -run '^$$' -bench . -benchmem ./yaegi/...
	cd e2e && $(GO) run ./hooks/cmd/restorepoint-bench

fuzz:
	for f in FuzzParseState FuzzClientIP FuzzCompileConfig FuzzPrefersJSON; do \
	  $(GO) test ./plugin -run '^$$' -fuzz "^$$f$$" -fuzztime 30s || exit 1; \
	done

## demo: the deploy rehearsal (real Traefik + docker provider on a stand-in Docker API, stand-in Rails apps,
## Litestream, the berth hooks, load with and without berth); prints its report. Needs root (127.0.0.x:80).
demo:
	cd e2e && BERTH_TRAEFIK="$(TRAEFIK)" $(GO) run ./cmd/rehearsal $(ARGS)

## walkthrough: berth's modes by hand in front of a stand-in app (ARGS=-serve keeps it running).
walkthrough:
	cd e2e && BERTH_TRAEFIK="$(TRAEFIK)" $(GO) run ./cmd/walkthrough $(ARGS)

## hooks: build berth for this machine and install it with the hook stubs into APP/.kamal/hooks (FORCE=1 replaces foreign hooks).
hooks:
	bash hooks/scripts/install-hooks.sh "$(APP)"

fmt:
	gofmt -w plugin config hooks e2e
