# The make targets are the project's interface: demo, test, bench, synth, lint.
SHELL := /bin/bash
# jsii prints a banner when Node.js is older than it supports. The end-of-life
# variable takes the major versions to silence, not a boolean.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(shell node -p "process.versions.node.split('.')[0]" 2>/dev/null)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

GO          ?= go
BIN         := $(CURDIR)/bin
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# AWS's Lambda Runtime Interface Emulator, for lambda/rie_test.go. The module
# proxy serves a pseudo-version of it, not its tagged releases (v1.23.0).
RIE         := $(BIN)/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
FUZZTIME    ?= 10s
# The Lambda binary, built exactly as deployed.
BOOTSTRAP   := $(BIN)/lambda/bootstrap
BUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

.PHONY: all demo test unit lint fmt-check vet staticcheck fuzz bench size build synth moto eventruler rie clean

all: lint test

## demo: start the emulator, build the demo account, contain every sample event, show before/after
demo: moto
	$(GO) run ./internal/demo

## test: lint, unit and integration tests (against the moto server), brief fuzzing
test: moto eventruler rie lint
	CI=$${CI:-} AUTOCONTAIN_REQUIRE_EMULATOR=1 $(GO) test -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz

## unit: the tests alone, without lint and fuzzing
unit: moto rie
	AUTOCONTAIN_REQUIRE_EMULATOR=1 $(GO) test -count=1 ./...

## moto: install the moto server into .venv (idempotent)
moto:
	@bash scripts/moto-venv.sh >/dev/null

## eventruler: fetch AWS's event-pattern matcher (event-ruler, Maven Central) into .eventruler/lib
## for the infra tests' pattern check; without Maven, CI fails and elsewhere the check is skipped
EVENTRULER_LIB := $(CURDIR)/.eventruler/lib
eventruler:
	@if ls $(EVENTRULER_LIB)/event-ruler-*.jar >/dev/null 2>&1; then exit 0; \
	elif command -v mvn >/dev/null; then \
		mvn -B -q -f infra/eventruler/pom.xml -Dmaven.repo.local=$(CURDIR)/.eventruler/m2 \
			dependency:copy-dependencies -DoutputDirectory=$(EVENTRULER_LIB); \
	elif [ "$${CI:-}" = true ]; then echo "eventruler: Maven (mvn) is needed in CI" >&2; exit 1; \
	else echo "eventruler: no Maven: the infra tests skip the event-ruler check"; fi

## rie: install AWS's Lambda Runtime Interface Emulator into bin/ (pinned), for lambda/rie_test.go
rie: $(RIE)

$(RIE):
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l lambda internal infra); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

## fuzz: run each fuzz target for FUZZTIME (seeded from events/)
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./internal/finding
	$(GO) test -run='^$$' -fuzz='^FuzzParsePlaybook$$' -fuzztime=$(FUZZTIME) ./internal/playbook
	$(GO) test -run='^$$' -fuzz='^FuzzClassifyDocument$$' -fuzztime=$(FUZZTIME) ./internal/impact
	$(GO) test -run='^$$' -fuzz='^FuzzNotification$$' -fuzztime=$(FUZZTIME) ./internal/contain
	$(GO) test -run='^$$' -fuzz='^FuzzParsePrior$$' -fuzztime=$(FUZZTIME) ./internal/contain

## build: the Lambda binary as deployed (linux/arm64, provided.al2023)
build:
	@mkdir -p $(dir $(BOOTSTRAP))
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(BUILD_FLAGS) -o $(BOOTSTRAP) ./lambda

## size: the size of the deployed binary
size: build
	@stat -c '%s' $(BOOTSTRAP) | awk '{printf "bootstrap (linux/arm64, as deployed): %d bytes = %.2f MiB\n", $$1, $$1/1048576}'

## bench: parse+plan, apply and status benchmarks, and the Lambda binary's size
bench: moto size
	AUTOCONTAIN_REQUIRE_EMULATOR=1 $(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

## synth: synthesize the CloudFormation template into cdk.out (no credentials needed)
synth:
	$(GO) run ./infra

clean:
	rm -rf $(BIN) cdk.out
