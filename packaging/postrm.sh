#!/bin/sh
# radmfa's postrm: the data dir (database and master key) is kept unless
# the package is purged.
set -e
if [ "$1" = purge ]; then
	rm -rf /var/lib/radmfa
	if getent passwd radmfa >/dev/null; then
		deluser --system --quiet radmfa || true
	fi
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null || true
fi
exit 0
