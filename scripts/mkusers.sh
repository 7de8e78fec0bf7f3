#!/bin/sh
# Creates cote's system users when they are missing (idempotent; run as root).
#   cote       internal processes (auth, anvil)
#   cotenull   login processes: owns no files, chrooted
#   cote-smtp  smtpd and the queue
#   vmail      owner of virtual users' mail
set -eu
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
add() {
	name=$1 home=$2 comment=$3
	if ! getent group "$name" >/dev/null; then
		groupadd --system "$name"
	fi
	if ! getent passwd "$name" >/dev/null; then
		useradd --system --gid "$name" --home-dir "$home" --no-create-home \
			--shell "$nologin" --comment "$comment" "$name"
	fi
}
if [ "$(id -u)" != 0 ]; then
	echo "mkusers.sh: must run as root" >&2
	exit 1
fi
add cote /nonexistent "cote internal processes"
add cotenull /nonexistent "cote login processes"
add cote-smtp /var/spool/cote "cote MTA"
add vmail /var/vmail "cote virtual mail"
