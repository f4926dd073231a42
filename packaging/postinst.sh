#!/bin/sh
# radmfa's postinst: the system user and its data dir.
set -e
if [ "$1" = configure ]; then
	if ! getent passwd radmfa >/dev/null; then
		adduser --system --group --home /var/lib/radmfa --no-create-home --quiet radmfa
	fi
	install -d -m 0700 -o radmfa -g radmfa /var/lib/radmfa
	chown root:radmfa /etc/radmfa /etc/radmfa/radmfa.yaml
	chmod 0750 /etc/radmfa
	chmod 0640 /etc/radmfa/radmfa.yaml
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null || true
	fi
fi
exit 0
