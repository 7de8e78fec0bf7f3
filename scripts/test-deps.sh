#!/bin/sh
# Installs the Debian packages the tests use, when root and missing. Debian's
# dovecot packages start system services on install; a policy-rc.d that
# forbids starting keeps the standard ports free.
set -u
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing Debian packages:$missing (install them with: apt-get install$missing)" >&2
	exit 0
fi
echo "test-deps: installing$missing"
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
fi
apt-get update -q >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
rc=$?
[ -n "$made_policy" ] && rm -f "$policy"
if [ $rc != 0 ]; then
	echo "test-deps: apt-get install$missing failed ($rc)" >&2
	exit $rc
fi
