package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	layeh "layeh.com/radius"

	"github.com/radmfa/radmfa/radius"
)

// testCA is a certificate authority made at test time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(dir, name+".pem")
	writePEM(t, file, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

// issue makes a certificate for cn (a server one with the IP address when
// ip is set) and returns its certificate and key files.
func (ca *testCA) issue(t *testing.T, dir, cn string, ip net.IP) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	cert, _ = x509.ParseCertificate(der)
	return certFile, keyFile, cert
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeUDPPort is a UDP port on 127.0.0.1 free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

var radsecRE = `listening on (\S+) \(RadSec`

// RadSec: radclient -> radsecproxy (Debian's) -> radmfa over TLS with a
// test CA: a fresh code is accepted, its replay refused, accounting
// answered; a certificate from another CA is refused at the handshake,
// and one of the right CA but of no client gets nothing.
func TestRadSecThroughRadsecproxy(t *testing.T) {
	proxyBin := requireTool(t, "radsecproxy", "radsecproxy")
	requireTool(t, "radclient", "freeradius-utils")
	dir := t.TempDir()
	nasCA := newTestCA(t, dir, "nas-ca")
	srvCA := newTestCA(t, dir, "server-ca")
	srvCert, srvKey, _ := srvCA.issue(t, dir, "radmfa.test", net.IPv4(127, 0, 0, 1))
	nasCert, nasKey, _ := nasCA.issue(t, dir, "nas1.example.com", nil)

	e := newCLI(t)
	out := e.ok("client", "add", "proxy", "--radsec", "--cert-cn", "nas1.example.com")
	if !strings.Contains(out, "RadSec, known by its certificate (CN nas1.example.com)") {
		t.Fatalf("client add --radsec:\n%s", out)
	}
	e.ok("user", "add", "rosa")
	_, seed := e.enrollSecret("rosa", "--type", "hotp")
	srv := startServer(t, e, "--radsec-addr", "127.0.0.1:0", "--radsec-cert", srvCert, "--radsec-key", srvKey, "--radsec-ca", nasCA.file)
	m := regexpFind(t, radsecRE, srv.out.String())
	host, port, _ := net.SplitHostPort(m)

	proxyPort := freeUDPPort(t)
	conf := filepath.Join(dir, "radsecproxy.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`ListenUDP 127.0.0.1:%d
LogLevel 3
client nas {
	host 127.0.0.1
	type udp
	secret testing123
}
tls default {
	CACertificateFile %s
	CertificateFile %s
	CertificateKeyFile %s
}
server radmfa {
	host %s
	port %s
	type tls
	secret radsec
}
realm * {
	server radmfa
	accountingServer radmfa
}
`, proxyPort, srvCA.file, nasCert, nasKey, host, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	proxy := exec.Command(proxyBin, "-f", "-c", conf)
	var proxyLog syncBuffer
	proxy.Stdout, proxy.Stderr = &proxyLog, &proxyLog
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Process.Kill(); proxy.Wait() })
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", proxyPort)

	login := func(code string) string {
		in := fmt.Sprintf("User-Name = rosa\nUser-Password = %s\nCalling-Station-Id = \"203.0.113.20\"\nMessage-Authenticator = 0x00\n", code)
		return radtool(t, in, "radclient", "-x", "-r", "3", "-t", "3", proxyAddr, "auth", "testing123")
	}
	if out := login(hotpAt(seed, 0)); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("a fresh code through radsecproxy:\n%s\nradsecproxy:\n%s\nradmfa:\n%s", out, proxyLog.String(), srv.errs.String())
	}
	replay := fmt.Sprintf("User-Name = rosa\nUser-Password = %s\nCalling-Station-Id = \"198.51.100.20\"\nMessage-Authenticator = 0x00\n", hotpAt(seed, 0))
	if out := radtool(t, replay, "radclient", "-x", "-r", "1", "-t", "3", proxyAddr, "auth", "testing123"); !strings.Contains(out, "Received Access-Reject") {
		t.Fatalf("a replay through radsecproxy:\n%s", out)
	}
	if rows := strings.Join(e.authRows("rosa"), ","); rows != "accept:ok,reject:replayed_code" {
		t.Fatalf("audit: %s", rows)
	}
	if ev := e.ok("audit", "--user", "rosa", "--json"); !strings.Contains(ev, `"actor": "radius:proxy"`) {
		t.Fatalf("not audited as the RadSec client:\n%s", ev)
	}
	acct := "User-Name = rosa\nAcct-Status-Type = Start\nAcct-Session-Id = \"rs-1\"\nNAS-Identifier = gw\n"
	if out := radtool(t, acct, "radclient", "-x", "-r", "3", "-t", "3", proxyAddr, "acct", "testing123"); !strings.Contains(out, "Received Accounting-Response") {
		t.Fatalf("accounting through radsecproxy:\n%s\nradsecproxy:\n%s", out, proxyLog.String())
	}
	if out := e.ok("sessions", "--active"); !strings.Contains(out, "rs-1") || !strings.Contains(out, "proxy") {
		t.Fatalf("sessions:\n%s", out)
	}

	t.Run("a certificate of another CA is refused at the handshake", func(t *testing.T) {
		otherCA := newTestCA(t, dir, "other-ca")
		certFile, keyFile, _ := otherCA.issue(t, dir, "nas1.example.com-other", nil)
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(srvCA.cert)
		c, err := tls.Dial("tcp", m, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err == nil {
			// TLS 1.3: the server's refusal of the client certificate
			// arrives with the first read.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("handshake with a foreign certificate: %v", err)
		}
		waitFor(t, "the refused handshake counted", func() bool {
			return srv.metric(t, `radmfa_radius_drops_total{reason="tls_handshake_failed"}`) >= 1
		})
	})

	t.Run("a certificate of the CA but of no client gets nothing", func(t *testing.T) {
		certFile, keyFile, _ := nasCA.issue(t, dir, "stranger.example.com", nil)
		pair, _ := tls.LoadX509KeyPair(certFile, keyFile)
		pool := x509.NewCertPool()
		pool.AddCert(srvCA.cert)
		c, err := tls.Dial("tcp", m, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection of no client was not closed")
		}
	})

	t.Run("a client known by its certificate's fingerprint", func(t *testing.T) {
		certFile, keyFile, cert := nasCA.issue(t, dir, "nas2.example.com", nil)
		e.ok("client", "add", "nas2", "--cert-fingerprint", radius.CertFingerprint(cert))
		waitFor(t, "the client table reloaded", func() bool { return strings.Contains(srv.errs.String(), "client table reloaded") })
		pair, _ := tls.LoadX509KeyPair(certFile, keyFile)
		pool := x509.NewCertPool()
		pool.AddCert(srvCA.cert)
		c, err := tls.Dial("tcp", m, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := layeh.New(layeh.CodeStatusServer, []byte("radsec"))
		b, err := req.Encode()
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil || !layeh.IsAuthenticResponse(buf[:n], b, []byte("radsec")) || layeh.Code(buf[0]) != layeh.CodeAccessAccept {
			t.Fatalf("Status-Server over RadSec: %x, %v", buf[:n], err)
		}
	})
}

func regexpFind(t *testing.T, re, s string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not in:\n%s", re, s)
	}
	return m[1]
}
