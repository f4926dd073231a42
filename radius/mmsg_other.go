//go:build !linux

package radius

import "net"

func newDatagrams(c *net.UDPConn) datagrams { return newPortableDatagrams(c) }
