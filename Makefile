# Parley: the commands.
#   make demo   the demo on loopback: open http://127.0.0.1:8080
#   make test   every test: unit, two-peer, each fuzz target for a few seconds, real peers
#               (aiortc, headless Chromium), the Kubernetes manifests validated offline, and
#               the image run as a fleet would
#   make fuzz   every fuzz target for FUZZ_SECONDS (default 600) each (Fuzz/README.md)
#   make image  the OCI image parley:latest, built offline (scripts/build-image.sh)

SWIFT ?= swift
PARLEY := .build/debug/parley
RELEASE_PARLEY := .build/release/parley

.PHONY: demo test build release image unit-test fuzz-test fuzz interop-test manifest-test image-test deps image-deps test-deps

demo: deps build
	$(PARLEY) demo

test: test-deps unit-test fuzz-test interop-test manifest-test image-test

deps:
	scripts/install-deps.sh

image-deps:
	scripts/install-deps.sh --image

test-deps:
	scripts/install-deps.sh --test

build:
	$(SWIFT) build --product parley

# The Swift runtime and Foundation linked in, so the image needs only Debian's libraries.
release:
	$(SWIFT) build -c release --product parley --static-swift-stdlib

image: image-deps release
	scripts/build-image.sh $(RELEASE_PARLEY)

unit-test:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Each fuzz target briefly, from its seed corpus: the targets build and nothing known crashes.
fuzz-test:
	scripts/fuzz.sh 5

FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

interop-test: build
	scripts/interop-tests.sh $(PARLEY)

manifest-test:
	scripts/validate-manifests.sh

image-test: release
	scripts/image-test.sh $(RELEASE_PARLEY)
