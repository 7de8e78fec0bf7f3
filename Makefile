# cote build. `make run` starts the suite in the foreground on high ports;
# `make test` runs every test (as root it first installs what tests need).

GO       ?= go
BIN      := bin
# Login and post-login binaries must be static: no_new_privs is applied to all
# threads with AllThreadsSyscall, which refuses to run once cgo is linked.
export CGO_ENABLED := 0
CMDS     := $(notdir $(wildcard cmd/*))
PREFIX   ?= /usr
DESTDIR  ?=
FUZZTIME ?= 20s
TESTFLAGS ?=

.PHONY: all build test test-deps run install bench bench-imap bench-compare fuzz clean vet

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -o $(BIN)/cote ./cmd/master
	@for c in $(filter-out master auth-worker,$(CMDS)); do \
		echo "$(GO) build -o $(BIN)/$$c ./cmd/$$c"; \
		$(GO) build -trimpath -o $(BIN)/$$c ./cmd/$$c || exit 1; \
	done
	@# auth-worker is the one cgo binary (PAM), when libpam's headers exist;
	@# without them it is built static and `driver = pam` is refused.
	@if [ -f /usr/include/security/pam_appl.h ]; then \
		echo "CGO_ENABLED=1 $(GO) build -tags pam -o $(BIN)/auth-worker ./cmd/auth-worker"; \
		CGO_ENABLED=1 $(GO) build -trimpath -tags pam -o $(BIN)/auth-worker ./cmd/auth-worker; \
	else \
		echo "$(GO) build -o $(BIN)/auth-worker ./cmd/auth-worker (no PAM: install libpam0g-dev)"; \
		$(GO) build -trimpath -o $(BIN)/auth-worker ./cmd/auth-worker; \
	fi

vet:
	$(GO) vet ./...

# Debian packages the tests use: openssl (certificates, cipher lists), python3
# (imaplib as an independent client), dovecot-core (the stock configuration
# tree, doveadm pw for password schemes), dovecot-imapd (the reference imap
# binary for ENVELOPE/BODYSTRUCTURE and Maildir interop), postfix (smtpd with
# smtpd_sasl_type = dovecot against our auth socket), libpam0g-dev and gcc
# (the PAM auth-worker), passwd (useradd/chpasswd for system-user tests), curl,
# swaks and libnet-ssleay-perl (its TLS) as an independent SMTP client.
# Installed only when root and missing.
TEST_DEBS := openssl python3 curl dovecot-core dovecot-imapd dovecot-pop3d fetchmail postfix libpam0g-dev gcc passwd swaks libnet-ssleay-perl isync
test-deps:
	@sh scripts/test-deps.sh $(TEST_DEBS)

test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m $(TESTFLAGS) ./...

run: build
	@sh scripts/devrun.sh

# Bounded (bench/README.md gives the times): the Go micro-benchmarks at a
# fixed short -benchtime, without the 10k/100k-message ones (they hold the
# Dovecot sub-benchmarks; bench-imap runs them), then cote-bench's workloads against a freshly
# started cote (test/e2e BenchmarkSideBySide without peers, one round, 10k
# large mailbox). bench-compare puts cote beside Dovecot and Postfix.
BENCH_SKIP = 100k|10k|ColdBuild
bench:
	$(GO) test -run '^$$' -bench . -skip '$(BENCH_SKIP)' -benchtime 200ms -benchmem -timeout 15m $$($(GO) list ./... | grep -v /test/e2e)
	COTE_BENCH_PEERS=none COTE_BENCH_ROUNDS=1 COTE_BENCH_BIG=10000 $(GO) test -run '^$$' -bench '^BenchmarkSideBySide$$' -benchtime 1x -timeout 20m ./test/e2e/

# cote and a private Dovecot (installed if missing) alternately, A B A B; the
# table is printed and bench/results/<date>.json and .svg are written.
bench-compare:
	sh scripts/bench-compare.sh

bench-imap:
	$(GO) test -run '^$$' -bench '100k|10k|ColdBuild' -benchtime 5x -v -timeout 30m ./pkg/imapd/ ./pkg/storage/maildir/
	COTE_BENCH_ROUNDS=1 $(GO) test -run '^$$' -bench '^BenchmarkSideBySide$$' -benchtime 1x -timeout 30m ./test/e2e/

# Time-boxed fuzzing of every fuzz target (the seed corpora run in `make test`).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

install: build
	sh scripts/install.sh "$(DESTDIR)" "$(PREFIX)" "$(BIN)"

clean:
	rm -rf $(BIN) run
