#!/bin/sh
# `make install DESTDIR=... PREFIX=/usr`: lays out the file tree of
# ARCHITECTURE.md ("Files on a real system"). It never overwrites an existing
# configuration file; the system users are created by mkusers.sh (run here
# only when installing into / as root).
set -eu
destdir=$1 prefix=$2 bin=$3
libexec=$destdir$prefix/libexec/cote
sbindir=$destdir$prefix/sbin
bindir=$destdir$prefix/bin
etc=$destdir/etc/cote
pki=$destdir/etc/pki/cote

install -d "$sbindir" "$bindir" "$libexec" "$etc/conf.d" "$pki/certs" \
	"$destdir/etc/rc.d/init.d" "$destdir/etc/sysconfig" "$destdir$prefix/lib/systemd/system"
install -d -m 0700 "$pki/private"
install -m 0755 "$bin/cote" "$sbindir/cote"
[ -f "$bin/coteadm" ] && install -m 0755 "$bin/coteadm" "$bindir/coteadm"
[ -f "$bin/cote-bench" ] && install -m 0755 "$bin/cote-bench" "$bindir/cote-bench"
if [ -f "$bin/cote-sendmail" ]; then
	install -m 0755 "$bin/cote-sendmail" "$sbindir/cote-sendmail"
	# /usr/sbin/sendmail is linked only when no other MTA provides it (or it is ours).
	sm=$destdir/usr/sbin/sendmail
	if [ ! -e "$sm" ] && [ ! -L "$sm" ] || [ "$(readlink "$sm")" = "$prefix/sbin/cote-sendmail" ]; then
		install -d "$destdir/usr/sbin"
		ln -sf "$prefix/sbin/cote-sendmail" "$sm"
	else
		echo "install: $sm exists and is not cote's: left alone" >&2
	fi
fi
for f in "$bin"/*; do
	n=$(basename "$f")
	case $n in
	cote | coteadm | cote-bench | cote-sendmail) ;;
	*) install -m 0755 "$f" "$libexec/$n" ;;
	esac
done
install -m 0755 scripts/mkcert.sh "$libexec/mkcert.sh"
[ -f "$pki/cote-openssl.cnf" ] || install -m 0644 scripts/cote-openssl.cnf "$pki/cote-openssl.cnf"
[ -f "$etc/cote.conf" ] || install -m 0644 etc/cote.conf "$etc/cote.conf"
for f in etc/conf.d/*.conf; do
	[ -f "$etc/conf.d/$(basename "$f")" ] || install -m 0644 "$f" "$etc/conf.d/"
done
install -m 0755 scripts/init.d/cote "$destdir/etc/rc.d/init.d/cote"
[ -f "$destdir/etc/sysconfig/cote" ] || install -m 0644 scripts/sysconfig "$destdir/etc/sysconfig/cote"
install -m 0644 scripts/cote.service "$destdir$prefix/lib/systemd/system/cote.service"
if [ -z "$destdir" ] && [ "$(id -u)" = 0 ]; then
	sh scripts/mkusers.sh
fi
echo "installed under ${destdir:-/}; make a certificate with $prefix/libexec/cote/mkcert.sh"
