# Parley: the two commands.
#   make demo   the demo on loopback: open http://127.0.0.1:8080
#   make test   every test: unit, two-peer, real peers (aiortc, headless Chromium), and the
#               Kubernetes manifests validated offline

SWIFT ?= swift
PARLEY := .build/debug/parley

.PHONY: demo test build unit-test interop-test manifest-test deps test-deps

demo: deps build
	$(PARLEY) demo

test: test-deps unit-test interop-test manifest-test

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --test

build:
	$(SWIFT) build --product parley

unit-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

interop-test: build
	scripts/interop-tests.sh $(PARLEY)

manifest-test:
	scripts/validate-manifests.sh
