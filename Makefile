# ferry's build, test and demo entry points. `make help` lists them.
GO ?= go
BIN := bin/ferry

.PHONY: help build test demo bench fuzz vet lint tidy-check clean

help:
	@echo "make demo   build ferry, serve a sample folder and fetch it over QUIC, TLS and TCP"
	@echo "make test   vet, gofmt, tidy and staticcheck gates, then all tests with the race detector"
	@echo "make bench  Go benchmarks comparing the transports side by side"
	@echo "make fuzz   run each fuzz target for a short while"

build:
	$(GO) build -o $(BIN) ./cmd/ferry

vet:
	$(GO) vet ./...
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# staticcheck, pinned, fetched through the Go module proxy.
lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

tidy-check:
	$(GO) mod tidy -diff

test: vet tidy-check lint
	$(GO) test -race -count=1 -timeout 12m ./...

demo:
	./scripts/demo.sh

# Side-by-side throughput of each transport against a bare socket of the
# same kind, in one run (see docs/design.md).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 8x -count 3 ./transport/transporttest/

# A short run of every fuzz target.
fuzz:
	@for pkg in ./internal/wire ./internal/safefs ./certs; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin
