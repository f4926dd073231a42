package main

import (
	"net"
	"os"
)

// sdNotify tells systemd about the service (Type=notify): "READY=1" once
// it listens, "RELOADING=1"/"READY=1" around a SIGHUP reload,
// "STOPPING=1" at shutdown. Without NOTIFY_SOCKET (not under systemd) it
// does nothing. The protocol is one datagram on a Unix socket; an
// abstract socket's name starts with '@'.
func sdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
