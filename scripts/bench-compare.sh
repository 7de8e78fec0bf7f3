#!/bin/sh
# make bench-compare: cote beside a private Dovecot (and, for the SMTP figures,
# a private Postfix delivering into it) on loopback, workloads run
# alternately (cote, Dovecot, cote, Dovecot), the ratio table printed and
# bench/results/<date>.json and <date>.svg written. Needs root (both masters
# start as root). Installs Dovecot's imap/pop3/lmtp servers and Postfix
# (the SMTP peer, and smtp-sink, the client-side ceiling) when missing, without starting their
# system services (scripts/test-deps.sh uses a policy-rc.d that forbids it).
# Knobs (environment): COTE_BENCH_ROUNDS (2), COTE_BENCH_SECONDS per timed
# run (4), COTE_BENCH_BIG (10000,100000), COTE_BENCH_IDLE (100,1000,10000),
# COTE_BENCH_POP3 (1000).
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "bench-compare: run as root (the servers' masters start as root)" >&2
	exit 1
fi
sh scripts/test-deps.sh openssl dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix
results="$(pwd)/bench/results"
mkdir -p "$results"
GO="${GO:-go}"
COTE_BENCH_RESULTS="$results" exec "$GO" test -count=1 -run '^$' -bench '^BenchmarkSideBySide$' \
	-benchtime 1x -timeout 30m ./test/e2e/
