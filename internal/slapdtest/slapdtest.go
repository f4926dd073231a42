// Package slapdtest runs a throwaway OpenLDAP server (Debian's slapd) for
// tests: a configuration of its own in the test's directory, 127.0.0.1 and
// a free port, StartTLS with a CA made for the test, the memberof overlay,
// and an admin bind. Under CI=true a missing slapd fails the test; on a
// laptop without it the test skips.
package slapdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The directory's fixed names.
const (
	Suffix   = "dc=example,dc=com"
	AdminDN  = "cn=admin,dc=example,dc=com"
	AdminPW  = "admin-secret"
	PeopleDN = "ou=people,dc=example,dc=com"
	GroupsDN = "ou=groups,dc=example,dc=com"
)

// Server is a running slapd.
type Server struct {
	URL    string // ldap://127.0.0.1:PORT (StartTLS offered)
	CAPEM  []byte // the CA of its certificate
	cmd    *exec.Cmd
	t      *testing.T
	stderr *os.File
}

// Start runs slapd until the test ends.
func Start(t *testing.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		bin = "/usr/sbin/slapd"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("slapd not installed (Debian package slapd); CI must run this test")
			}
			t.Skip("slapd not installed (apt-get install slapd ldap-utils)")
		}
	}
	dir := t.TempDir()
	caPEM := writeTLS(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
sizelimit unlimited
database mdb
maxsize 1073741824
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
index objectClass eq
index uid eq
limits dn.exact="%[3]s" size=unlimited
overlay memberof
`, dir, Suffix, AdminDN, AdminPW)
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{URL: "ldap://" + addr, CAPEM: caPEM, t: t}
	s.stderr, _ = os.Create(filepath.Join(dir, "slapd.log"))
	s.cmd = exec.Command(bin, "-f", confFile, "-h", s.URL+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := ldap.DialURL(s.URL); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.stderr.Name())
			t.Fatalf("slapd did not start:\n%s", log)
		}
	}
	c := s.Admin()
	defer c.Close()
	must(t, c.Add(entry(Suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})))
	must(t, c.Add(entry(PeopleDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})))
	must(t, c.Add(entry(GroupsDN, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})))
	return s
}

// Stop stops slapd (also at the test's end).
func (s *Server) Stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Admin is a connection bound as the directory's admin.
func (s *Server) Admin() *ldap.Conn {
	s.t.Helper()
	c, err := ldap.DialURL(s.URL)
	if err != nil {
		s.t.Fatal(err)
	}
	must(s.t, c.Bind(AdminDN, AdminPW))
	return c
}

func entry(dn string, attrs map[string][]string) *ldap.AddRequest {
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		r.Attribute(k, v)
	}
	return r
}

// AddUser adds a person (uid, mail, password).
func (s *Server) AddUser(uid, mail, password string) string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	dn := "uid=" + uid + "," + PeopleDN
	must(s.t, c.Add(entry(dn, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid},
		"mail": {mail}, "userPassword": {password}})))
	return dn
}

// AddGroup adds a groupOfNames with members (DNs); the memberof overlay
// gives the members their memberOf.
func (s *Server) AddGroup(cn string, members ...string) string {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	dn := "cn=" + cn + "," + GroupsDN
	must(s.t, c.Add(entry(dn, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {cn}, "member": members})))
	return dn
}

// Modify changes one attribute of an entry.
func (s *Server) Modify(dn, attr string, values ...string) {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	r := ldap.NewModifyRequest(dn, nil)
	r.Replace(attr, values)
	must(s.t, c.Modify(r))
}

// Delete removes an entry.
func (s *Server) Delete(dn string) {
	s.t.Helper()
	c := s.Admin()
	defer c.Close()
	must(s.t, c.Del(ldap.NewDelRequest(dn, nil)))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeTLS writes a CA and a server certificate for 127.0.0.1 into dir
// and returns the CA's PEM.
func writeTLS(t *testing.T, dir string) []byte {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapdtest CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for name, b := range map[string][]byte{
		"ca.pem":     caPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caPEM
}

// Person is the add request of a person with uid (no password), for bulk
// loads through Admin.
func Person(uid string) *ldap.AddRequest {
	return entry("uid="+uid+","+PeopleDN, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {uid}, "sn": {uid},
		"mail": {uid + "@example.com"}})
}
