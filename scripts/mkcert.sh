#!/bin/sh
# mkcert.sh: make a self-signed certificate and key for cote, like
# Dovecot's mkcert.sh. Settings come from the environment or from
# NAME=value arguments:
#   SSLDIR         base directory             (/etc/pki/cote)
#   OPENSSLCONFIG  openssl configuration      ($SSLDIR/cote-openssl.cnf, else
#                                              the cote-openssl.cnf beside this script)
#   CERTDIR        certificate directory      ($SSLDIR/certs)
#   KEYDIR         private key directory      ($SSLDIR/private)
#   CERTFILE       certificate                ($CERTDIR/cote.pem)
#   KEYFILE        private key                ($KEYDIR/cote.pem)
#   HOSTNAME_CN    host name in CN and SAN    (hostname -f, else hostname)
#   DAYS           validity in days           (365)
#   OPENSSL        openssl binary             (openssl)
# It never overwrites an existing certificate or key.

set -u

for arg in "$@"; do
	case $arg in
	SSLDIR=* | OPENSSLCONFIG=* | CERTDIR=* | KEYDIR=* | CERTFILE=* | KEYFILE=* | HOSTNAME_CN=* | DAYS=* | OPENSSL=*)
		# Only the names above reach export, so the argument cannot run code.
		export "${arg?}"
		;;
	-h | --help)
		sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "mkcert.sh: unknown argument: $arg (use NAME=value, see --help)" >&2
		exit 64
		;;
	esac
done

OPENSSL=${OPENSSL:-openssl}
SSLDIR=${SSLDIR:-/etc/pki/cote}
CERTDIR=${CERTDIR:-$SSLDIR/certs}
KEYDIR=${KEYDIR:-$SSLDIR/private}
CERTFILE=${CERTFILE:-$CERTDIR/cote.pem}
KEYFILE=${KEYFILE:-$KEYDIR/cote.pem}
DAYS=${DAYS:-365}

if [ -z "${OPENSSLCONFIG:-}" ]; then
	OPENSSLCONFIG=$SSLDIR/cote-openssl.cnf
	if [ ! -f "$OPENSSLCONFIG" ]; then
		here=$(dirname -- "$0")
		if [ -f "$here/cote-openssl.cnf" ]; then
			OPENSSLCONFIG=$here/cote-openssl.cnf
		fi
	fi
fi
if [ ! -f "$OPENSSLCONFIG" ]; then
	echo "mkcert.sh: openssl configuration $OPENSSLCONFIG not found (set OPENSSLCONFIG)" >&2
	exit 1
fi

if [ -z "${HOSTNAME_CN:-}" ]; then
	HOSTNAME_CN=$(hostname -f 2>/dev/null) || HOSTNAME_CN=
	[ -n "$HOSTNAME_CN" ] || HOSTNAME_CN=$(hostname 2>/dev/null) || HOSTNAME_CN=
	[ -n "$HOSTNAME_CN" ] || HOSTNAME_CN=localhost
fi
COTE_CERT_CN=$HOSTNAME_CN
export COTE_CERT_CN

if [ -e "$CERTFILE" ]; then
	echo "mkcert.sh: $CERTFILE already exists, won't overwrite it: move it away first" >&2
	exit 1
fi
if [ -e "$KEYFILE" ]; then
	echo "mkcert.sh: $KEYFILE already exists, won't overwrite it: move it away first" >&2
	exit 1
fi

mkdir -p -- "$(dirname -- "$CERTFILE")" || exit 2
# The key directory is private to its owner; the master reads the key and
# hands it to the services itself.
(umask 077 && mkdir -p -- "$(dirname -- "$KEYFILE")") || exit 2

# umask 077 so the key is never readable by others, not even for an instant.
# openssl's key generation progress goes to stderr: show it only on failure.
errlog=$(mktemp) || exit 2
(umask 077 && "$OPENSSL" req -new -x509 -nodes -config "$OPENSSLCONFIG" \
	-days "$DAYS" -out "$CERTFILE" -keyout "$KEYFILE" 2>"$errlog") || {
	cat -- "$errlog" >&2
	rm -f -- "$CERTFILE" "$KEYFILE" "$errlog"
	exit 2
}
rm -f -- "$errlog"
chmod 0600 "$KEYFILE" || exit 2
chmod 0644 "$CERTFILE" || exit 2

echo "certificate: $CERTFILE"
echo "private key: $KEYFILE"
"$OPENSSL" x509 -subject -fingerprint -sha256 -noout -in "$CERTFILE" || exit 2
