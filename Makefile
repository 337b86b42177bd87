# berth: see README.md. `make setup` once, then `make test`.
SHELL := /bin/bash
GO    ?= go

TRAEFIK = $$(bash $(CURDIR)/e2e/scripts/build-traefik.sh)
STATICCHECK = $$(bash $(CURDIR)/scripts/staticcheck.sh)
# go test -json, read back into ok/FAIL lines, failures in full, every skip
# with its reason and a closing count; a skipped test fails make test.
REPORT = (cd $(CURDIR)/e2e && $(GO) run ./cmd/testreport)
# Pebble, Let's Encrypt's test CA, and its DNS test server: the ACME CA of the end-to-end tests and the rehearsal.
PEBBLE  = $$(bash $(CURDIR)/e2e/scripts/build-pebble.sh)
KAMAL_PROXY = $$(bash $(CURDIR)/e2e/scripts/build-kamal-proxy.sh)

# Packages go test runs at once (its default is one per CPU): every race-detector test binary and its link take
# hundreds of MiB, so a laptop with many CPUs would multiply them; 4 keeps `make test` within 4 GiB.
TEST_P ?= $(shell n=$$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2); echo $$((n < 4 ? n : 4)))

.PHONY: setup traefik test lint unit yaegi e2e bench demo walkthrough hooks install fuzz fmt

setup:
	bash scripts/setup.sh

traefik:
	@bash e2e/scripts/build-traefik.sh

## test: everything: gofmt, vet and staticcheck, unit tests, the plugin under Yaegi, and the end-to-end tests
## against the real Traefik, Kamal, Docker, Litestream and Pebble. Every test must run: a skip fails it. Then the
## peak resident memory of the whole run (every process it started, summed: scripts/peak-memory.sh).
test:
	@bash scripts/peak-memory.sh $(MAKE) --no-print-directory lint unit e2e

lint:
	@files=$$(gofmt -l plugin config hooks e2e pluginsource.go); if [ -n "$$files" ]; then echo "gofmt: $$files (make fmt)"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...
	$(STATICCHECK) ./...
	cd e2e && $(STATICCHECK) ./...

unit:
	set -o pipefail; $(GO) test -race -count=1 -p $(TEST_P) -json ./... | $(REPORT)

## yaegi: the behaviour tests against the plugin interpreted as Traefik does it.
yaegi:
	cd e2e && $(GO) test -count=1 ./yaegi/...

e2e:
	set -o pipefail; cd e2e && BERTH_TRAEFIK="$(TRAEFIK)" BERTH_PEBBLE_DIR="$(PEBBLE)" $(GO) test -count=1 -p $(TEST_P) -timeout 30m -json ./... | $(REPORT)

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
	cd e2e && BERTH_TRAEFIK="$(TRAEFIK)" BERTH_PEBBLE_DIR="$(PEBBLE)" $(GO) run ./cmd/rehearsal $(ARGS)

## walkthrough: berth's modes by hand in front of a stand-in app (ARGS=-serve keeps it running).
walkthrough:
	cd e2e && BERTH_TRAEFIK="$(TRAEFIK)" $(GO) run ./cmd/walkthrough $(ARGS)

## hooks: build berth for this machine and install it with the hook stubs into APP/.kamal/hooks (FORCE=1 replaces foreign hooks).
hooks:
	bash hooks/scripts/install-hooks.sh "$(APP)"

## install: berth on your PATH (GOBIN or ~/go/bin), for `berth config ...` and the operator commands.
install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags "-X main.version=$$(git describe --tags --always --dirty 2>/dev/null || echo dev)" ./hooks/cmd/berth
	@echo "installed: $$($(GO) env GOBIN)$$( [ -n "$$($(GO) env GOBIN)" ] || echo "$$($(GO) env GOPATH)/bin")/berth"

fmt:
	gofmt -w plugin config hooks e2e
