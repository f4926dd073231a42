package radius

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"
)

// RadSec (RADIUS over TLS, RFC 6614): a NAS (or a proxy such as
// radsecproxy) connects over TCP with TLS 1.2 or later and a client
// certificate issued by the CA radmfa trusts for NAS; it is known by that
// certificate (its CN or DNS name, or its SHA-256 fingerprint), not by
// its address. Its packets take the same way as UDP ones: duplicate
// detection, the reply cache, the decision, the audit. The shared secret
// is "radsec".
const (
	// maxRadSecConns bounds the TLS connections open at once.
	maxRadSecConns = 1024
	// radsecIdle closes a connection that sent nothing for this long
	// (radsecproxy keeps its connections alive with Status-Server).
	radsecIdle = 5 * time.Minute
	// radsecHandshake bounds the TLS handshake.
	radsecHandshake = 10 * time.Second
)

// RadSecTLS is the TLS configuration of a RadSec listener: the server's
// certificate, and the CA whose client certificates are accepted (TLS 1.2
// or later, a client certificate required and verified).
func RadSecTLS(cert tls.Certificate, nasCA *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    nasCA,
	}
}

// CertFingerprint is a certificate's fingerprint as clients are known
// by: "sha256:" and the hex of the SHA-256 of its DER.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// LookupCert finds the RadSec client a verified certificate belongs to:
// one known by its fingerprint first, then one known by its CN or one of
// its DNS names; a client with a prefix must connect from within it.
func (t *Table) LookupCert(leaf *x509.Certificate, addr netip.Addr) *Client {
	addr = addr.Unmap()
	fp := CertFingerprint(leaf)
	var byName *Client
	for i := range t.radsec {
		c := &t.radsec[i]
		if c.Prefix.IsValid() && !c.Prefix.Contains(addr) {
			continue
		}
		if c.CertFingerprint != "" && c.CertFingerprint == fp {
			return c
		}
		if c.CertCN != "" && byName == nil && certHasName(leaf, c.CertCN) {
			byName = c
		}
	}
	return byName
}

func certHasName(c *x509.Certificate, name string) bool {
	if strings.EqualFold(c.Subject.CommonName, name) {
		return true
	}
	for _, d := range c.DNSNames {
		if strings.EqualFold(d, name) {
			return true
		}
	}
	return false
}

// ServeRadSec accepts RadSec connections on ln until ctx ends.
func (s *Server) ServeRadSec(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	var conns sync.Map // net.Conn -> struct{}
	var wg sync.WaitGroup
	slots := make(chan struct{}, maxRadSecConns)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		conns.Range(func(k, _ any) bool {
			// Stop reading; answers in flight may still be written.
			k.(net.Conn).SetReadDeadline(time.Unix(1, 0))
			return true
		})
	})
	defer stop()
	for {
		raw, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			s.log.Warn("radsec: accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.drop(DropOverloaded, "radsec", "too many connections")
			raw.Close()
			continue
		}
		conns.Store(raw, struct{}{})
		wg.Go(func() {
			defer func() {
				conns.Delete(raw)
				<-slots
			}()
			s.serveRadSecConn(ctx, tls.Server(raw, cfg))
		})
	}
	// Wait for the connections' readers, then for the answers in flight
	// before the connections close.
	wg.Wait()
	return nil
}

// tlsConn writes the replies of one RadSec connection, one at a time.
type tlsConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (t *tlsConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return t.c.Write(b)
}

// serveRadSecConn reads the packets of one connection until it ends, then
// waits for the answers in flight on it and closes it.
func (s *Server) serveRadSecConn(ctx context.Context, c *tls.Conn) {
	src, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	defer func() {
		if ctx.Err() != nil {
			// Shutting down: the answers in flight go out first.
			done := make(chan struct{})
			go func() { s.wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(s.cfg.ShutdownTimeout):
			}
		}
		c.Close()
	}()
	hctx, cancel := context.WithTimeout(ctx, radsecHandshake)
	err := c.HandshakeContext(hctx)
	cancel()
	if err != nil {
		s.drop(DropTLSHandshake)
		if ok, held := s.logs.allow(DropTLSHandshake, src.Addr().String(), s.now()); ok {
			s.log.Warn("radsec: TLS handshake failed (a NAS certificate not issued by --radsec-ca?)", "src", src, "held_back", held, "err", err)
		}
		return
	}
	leaf := c.ConnectionState().PeerCertificates[0]
	if s.table.Load().LookupCert(leaf, src.Addr()) == nil {
		s.drop(DropUnknownClient)
		if ok, held := s.logs.allow(DropUnknownClient, "radsec:"+src.Addr().String(), s.now()); ok {
			s.log.Warn("radsec: certificate of no client (add one with `radmfa client add NAME --radsec --cert-cn CN`)",
				"src", src, "cn", leaf.Subject.CommonName, "fingerprint", CertFingerprint(leaf), "held_back", held)
		}
		return
	}
	s.log.Info("radsec: client connected", "src", src, "cn", leaf.Subject.CommonName)
	w := &tlsConn{c: c}
	r := bufio.NewReader(c)
	buf := make([]byte, radius.MaxPacketLength)
	for {
		c.SetReadDeadline(time.Now().Add(radsecIdle))
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(buf[2:4]))
		if n < 20 || n > radius.MaxPacketLength {
			// The stream cannot be resynchronised (RFC 6614 2.5): close.
			s.drop(DropMalformed, "src", src, "len", n)
			return
		}
		if _, err := io.ReadFull(r, buf[4:n]); err != nil {
			return
		}
		// The table may have changed since the handshake: the client is
		// looked up for every packet.
		client := s.table.Load().LookupCert(leaf, src.Addr())
		if client == nil {
			s.drop(DropUnknownClient)
			return
		}
		if radius.Code(buf[0]) == radius.CodeAccountingRequest {
			s.handleAccounting(w, buf[:n], src, client)
		} else {
			s.handleAccess(w, buf[:n], src, client, true)
		}
	}
}
