# Sluice: `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 100000x

.PHONY: help build run test test-ttobot deps lint test/race fuzz e2e bench bench-smoke

help: ## list the targets
	@grep -E '^[a-z0-9/-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build ./sluice
	$(GO) build -o sluice ./cmd/sluice

run: ## run the server on 127.0.0.1:9324 with data in ./sluice-data
	$(GO) run ./cmd/sluice serve

test: deps lint test/race test-ttobot fuzz e2e bench-smoke ## everything CI runs: lint, race tests, the ttobot example, short fuzzing, AWS CLI end-to-end, bench smoke run
	@echo "make test: all passed"

deps: ## install the test tools (staticcheck; Debian's awscli 2.9 when run as root)
	@scripts/test-deps.sh $(STATICCHECK_VERSION)

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

test-ttobot: ## the ttobot example module (examples/ttobot): gofmt, vet, staticcheck, race tests against a real sluice serve
	@out=$$(cd examples/ttobot && gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd examples/ttobot && $(GO) vet ./... && $(GOBIN)/staticcheck ./... && $(GO) test -race -count=1 ./...

test/race: ## all Go tests with the race detector
	$(GO) test -race -count=1 ./...

fuzz: ## each fuzz target for FUZZTIME executions (default 100000x: a count, not a duration, since a duration races the fuzz coordinator under load)
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./internal/protocol/awsjson/
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./internal/protocol/awsquery/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeReceipt$$' -fuzztime=$(FUZZTIME) ./internal/queue/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeMessage$$' -fuzztime=$(FUZZTIME) ./internal/engine/diskengine/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./internal/auth/

e2e: ## the AWS CLI v2.9 (query protocol) against a real sluice serve
	scripts/e2e-awscli.sh

bench: ## engine benchmarks
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/engine/...

bench-smoke: ## each sluice bench scenario for a few seconds (sluice serve, null, RabbitMQ, NATS); no thresholds
	scripts/bench-smoke.sh
