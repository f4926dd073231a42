# radmfa — see README.md. `make run` starts a development server on
# loopback; `make test` runs every test (interoperability tests need
# freeradius-utils and oathtool: .ci/run installs them).

GO          ?= go
BIN         := bin
DATA_DIR    ?= ./radmfa-data
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 30s

.PHONY: all build run test lint fuzz bench clean deb

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# A development server on 127.0.0.1:1812 with client 127.0.0.1/8, secret
# testing123, created on first start; metrics on 127.0.0.1:9812.
run: build
	$(BIN)/radmfa --data-dir $(DATA_DIR) serve --dev

test:
	$(GO) test -race -count=1 ./...

# The Debian package (bin/radmfa_VERSION_ARCH.deb), built with nfpm, a Go
# tool dependency (go.mod's tool line): no downloaded binary.
DEB_VERSION ?= $(shell echo $(VERSION) | sed -e 's/^v//' -e 's/^\([^0-9]\)/0.0.0~\1/' -e 's/-/~/g')
deb: build
	RADMFA_VERSION=$(DEB_VERSION) RADMFA_ARCH=$$($(GO) env GOARCH) $(GO) tool nfpm package -f packaging/nfpm.yaml -p deb -t $(BIN)/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Each fuzz target for FUZZTIME.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./otp/
	$(GO) test -run '^$$' -fuzz '^FuzzHandlePacket$$' -fuzztime $(FUZZTIME) ./radius/
	$(GO) test -run '^$$' -fuzz '^FuzzReadPSKC$$' -fuzztime $(FUZZTIME) ./otp/

# Go micro-benchmarks (OTP verification, packet path, store) and the load
# scenarios; results in bench-results/. bench/compare.sh (root) measures
# against FreeRADIUS side by side.
bench:
	mkdir -p bench-results
	$(GO) test -run '^$$' -bench . -benchmem ./... | tee bench-results/micro-$$(date +%Y%m%dT%H%M%S).txt
	bench/load.sh

clean:
	rm -rf $(BIN)
