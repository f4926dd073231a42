//go:build !linux

package radius

import "net"

func newDatagrams(c *net.UDPConn) datagrams { return newPortableDatagrams(c) }

// countKernelDrops is Linux's alone.
func countKernelDrops(*net.UDPConn) {}
