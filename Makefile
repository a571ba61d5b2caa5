# ferry's build, test and demo entry points. `make help` lists them.
GO ?= go
BIN := bin/ferry

.PHONY: help build test demo bench fuzz vet lint tidy-check clean

help:
	@echo "make demo   build ferry, serve a sample folder and fetch it over QUIC, TLS and TCP"
	@echo "make test   vet, layering and doc checks, all tests with the race detector"
	@echo "make bench  Go benchmarks comparing the transports side by side"
	@echo "make fuzz   run each fuzz target for a short while"

build:
	$(GO) build -o $(BIN) ./cmd/ferry

vet:
	$(GO) vet ./...

tidy-check:
	$(GO) mod tidy -diff

test: vet tidy-check
	$(GO) test -race -count=1 -timeout 12m ./...

demo:
	./scripts/demo.sh

clean:
	rm -rf bin
