# xvs — userspace virtual server.  `make demo` and `make test` are the two
# commands a newcomer needs (as root, on Debian 12 with Go 1.26).

GO      ?= go
GOFLAGS ?=
BIN     := bin/xvs
PKGS    := ./...
# Every package runs its tests under the race detector.
RACE_PKGS := ./...

.PHONY: all build test demo bench gobench syncbench generate lint fuzz deps clean

all: build

build:
	$(GO) build $(GOFLAGS) -o $(BIN) ./cmd/xvs

# deps installs the Debian packages the lab and tests use (iproute2 for
# `ip netns exec`); Go modules come through the module proxy.
deps:
	@command -v ip >/dev/null || (apt-get update -q && apt-get install -y -q iproute2)
	@command -v nft >/dev/null || (apt-get update -q && apt-get install -y -q nftables)
	@command -v keepalived >/dev/null || (apt-get update -q && apt-get install -y -q keepalived)

# The whole suite: vet, formatting, unit, fuzz seeds, and (as root) the
# netns lab tests with real AF_XDP and XDP, under the race detector; then
# every fuzz target for 10 s.
test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 14m -count=1 $(RACE_PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s

demo: deps build
	./$(BIN) demo

# The lab benchmark: xvs, kernel NAT (nftables) and a bare AF_XDP forwarder
# side by side, interleaved over rounds, with the Go fast-path benchmarks;
# the table, JSON, Markdown and xvs's CPU profile land in bench-out/.
bench: deps build
	@command -v nft >/dev/null || (apt-get update -q && apt-get install -y -q nftables)
	./$(BIN) bench --out bench-out

# Only the Go benchmarks of the fast path (allocations reported).
gobench:
	$(GO) test -run '^$$' -bench . -benchmem ./nat/ ./dataplane/ ./internal/header/ ./scheduler/

# Connection sync (as root): master-to-backup throughput over a veth at
# rising offered rates (installed/s, catch-up time, records lost), and the
# fast path's cost of sync records, sync off and on in one run.
syncbench:
	$(GO) test -run '^$$' -bench SyncThroughput -benchtime 1x ./connsync/
	$(GO) test -run '^$$' -bench RewriteSync -benchmem -count 5 ./dataplane/

# Rebuild the XDP program's bpf2go output (needs clang, llvm, libbpf-dev).
generate:
	@command -v clang >/dev/null || (apt-get update -q && apt-get install -y -q clang llvm libbpf-dev)
	$(GO) generate ./dataplane/

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; exit 1)
	$(GO) vet $(PKGS)

# Every fuzz target, FUZZTIME each (make test runs them for 10 s). The
# corpus a run grows stays in Go's fuzz cache for the next run; an input
# that fails is written to the package's testdata/fuzz, to be committed as
# a regression seed with its fix.
FUZZTIME ?= 30s
FUZZ_TARGETS := nat:FuzzEngine internal/header:FuzzHeaders internal/header:FuzzIPv6 config:FuzzLex config:FuzzParse \
	connsync:FuzzDecode vrrp:FuzzDecode healthcheck:FuzzParseHex healthcheck:FuzzSplitCommand \
	healthcheck:FuzzDNSMessage
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ./$$pkg/ for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg/ || exit 1; \
	done

clean:
	rm -rf bin

# install puts bin/xvs in /usr/local/bin and the systemd unit in
# /etc/systemd/system (as root; DESTDIR for packaging). Then:
# systemctl daemon-reload && systemctl enable --now xvs
.PHONY: install
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)/usr/local/bin/xvs
	install -D -m 0644 dist/xvs.service $(DESTDIR)/etc/systemd/system/xvs.service
