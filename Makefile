# mqttgate — see README.md. `make run` and `make test` do all the set-up.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
NPM     ?= npm

.PHONY: all build web run test test-deps test-go test-web lint clean cross deb bench fuzz

all: build

## build: the dashboard bundle and bin/mqttgate
build: web
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/mqttgate ./cmd/mqttgate

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund --loglevel=error

## web: bundle the dashboard into web/dist (embedded by the Go build)
web: web/node_modules/.package-lock.json
	cd web && node build.mjs

## run: build and run the gateway on the built-in configuration
run: build
	./bin/mqttgate run

## test-deps: install what the tests need (Debian packages, npm packages)
test-deps:
	.ci/install-deps

## test: install what is missing, then every test
test: test-deps build test-go test-web

test-go:
	$(GO) test -race -timeout 30m ./...

test-web:
	cd web && $(NPM) test
	cd web && MQTTGATE_BIN=$(CURDIR)/bin/mqttgate $(NPM) run e2e

## lint: gofmt, go vet, staticcheck, the dependency test, go mod tidy leaving the tree clean
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) test -run '^TestDependency' ./cmd/mqttgate
	GOOS=linux GOARCH=arm $(GO) test -exec=true ./... >/dev/null
	GOOS=linux GOARCH=arm64 $(GO) test -exec=true ./... >/dev/null
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

## fuzz: run every fuzz target for a while (FUZZTIME=30s), then list the
## ones that failed; a failure does not stop the others (FUZZPKGS=./ws/ for one package)
FUZZTIME ?= 30s
FUZZPKGS ?= ./...
fuzz:
	@failed=""; n=0; \
	for p in $$($(GO) list $(FUZZPKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
	    n=$$((n+1)); echo "== $$p $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || failed="$$failed $$p.$$f"; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: $$(echo $$failed | wc -w) of $$n targets failed:"; for f in $$failed; do echo "  $$f"; done; exit 1; \
	fi; \
	echo "fuzz: all $$n targets passed"

## cross: static binaries for armv6, armv7, arm64, amd64 in dist/
cross: web
	crossbuild/cross.sh

## deb: .deb packages for armhf, arm64, amd64 in dist/
deb: cross
	crossbuild/deb.sh

## bench: mqttgate against Mosquitto, side by side
bench: build
	cmd/mqttbench/bench.sh

clean:
	rm -rf bin dist web/test-results web/node_modules
	find web/dist -mindepth 1 ! -name .gitkeep -delete 2>/dev/null || true
