# ferry's build, test and demo entry points. `make help` lists them.
GO ?= go
BIN := bin/ferry

.PHONY: help build test demo bench fuzz vet lint tidy-check cross clean

help:
	@echo "make demo   build ferry, serve a sample folder and fetch it over QUIC, TLS and TCP"
	@echo "make test   vet, gofmt, tidy, staticcheck and macOS-build gates, then all tests with the race detector"
	@echo "make bench  ferry bench and the Go benchmarks: the transports side by side"
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

# ferry is developed on Linux; this keeps it building for macOS (where the
# link emulator and TCP_INFO are missing, and ferry says so or falls back).
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...

test: vet tidy-check lint cross
	$(GO) test -race -count=1 -timeout 12m ./...
	# QUIC 0-RTT tests, which quic-go's own race (#4303) keeps out of -race.
	$(GO) test -count=1 -timeout 5m -run 'Early' ./transport/quic/ ./internal/bench/

demo:
	./scripts/demo.sh

# The same-run duel of TCP, TLS and QUIC (ferry bench, two processes, on
# loopback), then the Go benchmarks: each transport against a bare socket of
# its kind, and the whole verified get path. The Go benchmarks write their
# files to BENCH_TMPDIR, a tmpfs where there is one, so that they measure
# ferry rather than the disk (a disk slows with every file created and
# deleted, so later runs would pay for earlier ones); the disk has its own
# measurement, scripts/measure-smallfiles.sh. See docs/benchmarks.md.
BENCH_TMPDIR ?= $(shell test -d /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
bench:
	$(GO) run ./cmd/ferry bench --bulk-size 256MiB --json bench.json --chart bench.svg
	TMPDIR=$(BENCH_TMPDIR) $(GO) test -run '^$$' -bench . -benchtime 4x ./transport/transporttest/ ./transfer/

# A short run of every fuzz target.
fuzz:
	@for pkg in ./internal/wire ./internal/safefs ./internal/benchdata ./certs; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 15s $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin
