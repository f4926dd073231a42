package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// requirePythonPSKC returns Debian's python3 with the pskc module (it is
// installed for /usr/bin/python3, not for another python3 on the PATH).
func requirePythonPSKC(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pskc").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s cannot import pskc (Debian package python3-pskc); CI must run this test", py)
		}
		t.Skip("python3-pskc not installed (apt-get install python3-pskc)")
	}
	return py
}

// pskcKeys are the keys python-pskc writes for the interop test.
var pskcKeys = []struct {
	serial, alg, hash string
	digits, period    int
	secret            string // hex
}{
	{"PY-HOTP-6", "hotp", "SHA1", 6, 0, "3132333435363738393031323334353637383930"},
	{"PY-HOTP-8", "hotp", "SHA1", 8, 0, "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344"},
	{"PY-TOTP-6", "totp", "SHA1", 6, 30, "00112233445566778899aabbccddeeff00112233"},
	{"PY-TOTP-8-256", "totp", "SHA256", 8, 60, "3132333435363738393031323334353637383930313233343536373839303132"},
}

// writePythonPSKC has python-pskc write the keys (serial prefix pre) in
// mode plain, psk or password.
func writePythonPSKC(t *testing.T, py, path, pre, mode string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("import pskc, binascii\np = pskc.PSKC()\n")
	for _, k := range pskcKeys {
		fmt.Fprintf(&b, "k = p.add_key(id=%q, serial=%q, secret=binascii.unhexlify(%q), manufacturer='PyVendor', model='PY-1')\n",
			pre+k.serial, pre+k.serial, k.secret)
		fmt.Fprintf(&b, "k.algorithm = 'urn:ietf:params:xml:ns:keyprov:pskc:%s'\nk.response_length = %d\nk.response_encoding = 'DECIMAL'\n", k.alg, k.digits)
		if k.alg == "hotp" {
			b.WriteString("k.counter = 0\n")
		} else {
			fmt.Fprintf(&b, "k.time_interval = %d\n", k.period)
		}
		if k.hash != "SHA1" {
			fmt.Fprintf(&b, "k.algorithm_suite = 'HMAC-%s'\n", k.hash)
		}
	}
	switch mode {
	case "psk":
		b.WriteString("p.encryption.setup_preshared_key(key=binascii.unhexlify('12345678901234567890123456789012'))\n")
	case "password":
		b.WriteString("p.encryption.setup_pbkdf2('correct horse battery')\n")
	}
	fmt.Fprintf(&b, "p.write(%q)\n", path)
	if out, err := exec.Command(py, "-c", b.String()).CombinedOutput(); err != nil {
		t.Fatalf("python-pskc: %v: %s", err, out)
	}
}

// Files written by another implementation import, and every key then
// authenticates with codes from oathtool.
func TestPSKCInteropPythonAndOathtool(t *testing.T) {
	py := requirePythonPSKC(t)
	requireTool(t, "oathtool", "oathtool")
	e := newCLI(t)
	dir := t.TempDir()
	pskFile := filepath.Join(dir, "psk.hex")
	pwFile := filepath.Join(dir, "password")
	os.WriteFile(pskFile, []byte("12345678901234567890123456789012\n"), 0o600)
	os.WriteFile(pwFile, []byte("correct horse battery\n"), 0o600)
	for _, mode := range []struct{ name, pre string }{{"plain", "P-"}, {"psk", "K-"}, {"password", "W-"}} {
		t.Run(mode.name, func(t *testing.T) {
			file := filepath.Join(dir, mode.name+".pskcxml")
			writePythonPSKC(t, py, file, mode.pre, mode.name)
			args := []string{"token", "import", file}
			switch mode.name {
			case "psk":
				args = append(args, "--key-file", pskFile)
				if _, errs, code := e.run("token", "import", file); code == 0 || !strings.Contains(errs, "--key-file") {
					t.Fatalf("import without the key: exit %d: %s", code, errs)
				}
			case "password":
				args = append(args, "--password-file", pwFile)
				if _, errs, code := e.run("token", "import", file, "--password", "wrong"); code == 0 || !strings.Contains(errs, "MAC") && !strings.Contains(errs, "password") {
					t.Fatalf("import with a wrong password: exit %d: %s", code, errs)
				}
			}
			if out := e.ok(args...); !strings.Contains(out, "imported 4 tokens") {
				t.Fatalf("import: %s", out)
			}
			for i, k := range pskcKeys {
				user := fmt.Sprintf("%s%d", strings.ToLower(mode.pre), i)
				e.ok("user", "add", user)
				e.ok("token", "assign", mode.pre+k.serial, user)
				var code string
				if k.alg == "hotp" {
					code = oathtool(t, "--hotp", "-d", fmt.Sprint(k.digits), "-c", "0", k.secret)
				} else {
					code = oathtool(t, "--totp="+strings.ToLower(k.hash), "-d", fmt.Sprint(k.digits), "-s", fmt.Sprintf("%ds", k.period), k.secret)
				}
				if out := e.ok("token", "check", user, code); !strings.Contains(out, "accept (token "+mode.pre+k.serial+")") {
					t.Fatalf("%s: %s", k.serial, out)
				}
			}
		})
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	e := newCLI(t)
	dir := t.TempDir()
	e.ok("user", "add", "alice")
	good := "serial,secret,type,digits,period_or_counter\nCSV-1,3132333435363738393031323334353637383930,hotp,6,0\n" +
		"CSV-2,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,6,30\n"
	tests := []struct {
		name, content, want string
		args                []string
	}{
		{"bad secret among good lines", good + "CSV-3,zz!!,hotp,6,0\n", "line 4 (CSV-3): secret is neither hex nor base32", nil},
		{"duplicate serial in the file", good + "CSV-1,3132,hotp,6,0\n", "appears twice", nil},
		{"bad digits and type", good + "CSV-4,3132,hotp,7,0\nCSV-5,3132,ocra,6,0\n", "line 5 (CSV-5)", nil},
		{"hostile XML", `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa">]><KeyContainer>&a;</KeyContainer>`, "DTD", nil},
		{"PSKC with one bad key", string(mustRead(t, "rfc6030-figure3.pskcxml")) + "", "", nil},
	}
	tests[4].content = strings.Replace(tests[4].content, "</KeyPackage>", `</KeyPackage><KeyPackage><Key Id="broken" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp"><Data/></Key></KeyPackage>`, 1)
	tests[4].want = "key broken: no secret"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.dbHash()
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.WriteFile(f, []byte(tc.content), 0o600)
			_, errs, code := e.run(append([]string{"token", "import", f}, tc.args...)...)
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %q", code, errs, tc.want)
			}
			if e.dbHash() != before {
				t.Fatal("a refused import changed the database")
			}
		})
	}
	// Every problem is listed, with its key id, in JSON too.
	f := filepath.Join(dir, "many.csv")
	os.WriteFile(f, []byte(good+"A,!!,hotp,6,0\nB,3132,hotp,9,0\nCSV-1,3132,hotp,6,0\n"), 0o600)
	out, _, code := e.run("token", "import", f, "--json")
	if code != 1 || !strings.Contains(out, `"line 4 (A)"`) || !strings.Contains(out, `"line 5 (B)"`) || !strings.Contains(out, "appears twice") {
		t.Fatalf("exit %d: %s", code, out)
	}
	// Dry run writes nothing; the real import then works; a second import
	// of the same file is refused (serials taken).
	os.WriteFile(f, []byte(good), 0o600)
	before := e.dbHash()
	if out := e.ok("token", "import", f, "--dry-run"); !strings.Contains(out, "would import 2") || e.dbHash() != before {
		t.Fatalf("dry run: %s", out)
	}
	if out := e.ok("token", "import", f); !strings.Contains(out, "imported 2 tokens") {
		t.Fatal(out)
	}
	if _, errs, _ := e.run("token", "import", f); !strings.Contains(errs, "CSV-1 is already in the database") || !strings.Contains(errs, "CSV-2") {
		t.Fatalf("re-import: %s", errs)
	}
	// The imported HOTP key authenticates.
	e.ok("token", "assign", "CSV-1", "alice")
	if out := e.ok("token", "check", "alice", hotpAt([]byte("12345678901234567890"), 0)); !strings.Contains(out, "accept") {
		t.Fatal(out)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pskc", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTokenMoves(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		dir := t.TempDir()
		f := filepath.Join(dir, "hw.csv")
		os.WriteFile(f, []byte("HW-1,3132333435363738393031323334353637383930,hotp,6,0\nHW-2,3132333435363738393031323334353637383931,totp,6,30\n"), 0o600)
		e.ok("token", "import", f)
		e.ok("user", "add", "ann")
		e.ok("user", "add", "ben")
		steps := []struct {
			args []string
			ok   bool
			want string
		}{
			{[]string{"token", "assign", "HW-1", "ann"}, true, "assigned to ann"},
			{[]string{"token", "assign", "HW-1", "ben"}, false, "unassign it first"}, // no two users on one token
			{[]string{"token", "unassign", "HW-1"}, true, "back in the inventory"},
			{[]string{"token", "assign", "HW-1", "ben"}, true, "assigned to ben"},
			{[]string{"token", "revoke", "HW-1"}, true, "revoked"},
			{[]string{"token", "assign", "HW-1", "ann"}, false, "revoked"},
			{[]string{"token", "return", "HW-1"}, false, "revoked hardware token"},
			{[]string{"token", "assign", "HW-2", "ann"}, true, "assigned"},
			{[]string{"token", "lost", "HW-2", "--replacement", "72h", "--no-qr"}, true, "temporary replacement"},
			{[]string{"token", "lost", "HW-2"}, false, "not held by a user"},
		}
		for _, s := range steps {
			out, errs, code := e.run(s.args...)
			if (code == 0) != s.ok || !strings.Contains(out+errs, s.want) {
				t.Fatalf("radmfa %s: exit %d, %q %q; want ok=%v %q", strings.Join(s.args, " "), code, out, errs, s.ok, s.want)
			}
		}
		// A soft token: revoke, return (seed destroyed), enroll anew for ben.
		m := enrollJSON(t, e, "ann")
		e.ok("token", "revoke", m["serial"])
		e.ok("token", "return", m["serial"])
		var tj tokenJSON
		jsonUnmarshal(e.ok("token", "show", m["serial"], "--json"), &tj)
		if tj.State != "inventory" || tj.User != "" {
			t.Fatalf("returned token %+v", tj)
		}
		n := enrollJSON(t, e, "ben", "--serial", m["serial"])
		if n["serial"] != m["serial"] || n["uri"] == m["uri"] {
			t.Fatalf("re-enrolled: %v (was %v)", n, m)
		}
		if _, seed := e.enrollSecretFrom(n); !strings.Contains(e.ok("token", "check", "ben", totpNow(seed)), "accept") {
			t.Fatal("re-enrolled token does not authenticate")
		}
		if !strings.Contains(e.ok("token", "list", "--state", "revoked"), "HW-1") {
			t.Fatal("token list --state revoked misses HW-1")
		}
		for _, a := range []string{"token.assign", "token.unassign", "token.return", "token.lost", "token.import"} {
			if e.auditCount("", a, "") == 0 {
				t.Errorf("no audit row for %s", a)
			}
		}
		// Reports.
		csvOut := e.ok("report", "users-with-tokens", "--format", "csv")
		if !strings.Contains(csvOut, "user,email,group,user_disabled,last_login,last_session,session_active,serial,type,origin,state,last_used,target,device_type,push_otp") ||
			!regexp.MustCompile(`ben,,,false,[0-9T:Z-]+,,,HW-1,hotp,hardware,revoked`).MatchString(csvOut) || !strings.Contains(csvOut, "Not Applicable") {
			t.Fatalf("users-with-tokens:\n%s", csvOut)
		}
		if out := e.ok("report", "tokens", "--format", "csv"); !strings.Contains(out, "revoked,hotp,hardware,1") || !strings.Contains(out, "total,,,4") {
			t.Fatalf("tokens report:\n%s", out)
		}
		if out := e.ok("report", "auth", "--format", "csv"); !strings.Contains(out, "user,ben,1,0,0,0") {
			t.Fatalf("auth report:\n%s", out)
		}
	})
}

// Export writes an encrypted PSKC file another server (here: this one,
// fresh) imports, and the keys work there.
func TestExportImportRoundTrip(t *testing.T) {
	onEachBackend(t, func(t *testing.T, e *cliEnv) {
		dir := t.TempDir()
		e.ok("user", "add", "cat")
		_, seed := e.enrollSecret("cat", "--type", "hotp")
		pw := filepath.Join(dir, "pw")
		os.WriteFile(pw, []byte("s3cret export\n"), 0o600)
		out := filepath.Join(dir, "export.pskcxml")
		if _, errs, code := e.run("token", "export", out); code == 0 || !strings.Contains(errs, "encrypt") {
			t.Fatalf("unencrypted export: %d %s", code, errs)
		}
		e.ok("token", "export", out, "--password-file", pw)
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), hex.EncodeToString(seed)) || strings.Contains(string(b), otpSecret(seed)) {
			t.Fatal("the export holds a seed in clear")
		}
		if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
			t.Fatalf("export mode %v", fi.Mode())
		}
		other := newCLI(t)
		other.ok("token", "import", out, "--password-file", pw)
		other.ok("user", "add", "cat")
		var toks []tokenJSON
		jsonUnmarshal(other.ok("token", "list", "--json"), &toks)
		if len(toks) != 1 {
			t.Fatalf("imported %+v", toks)
		}
		other.ok("token", "assign", toks[0].Serial, "cat")
		if !strings.Contains(other.ok("token", "check", "cat", hotpAt(seed, 0)), "accept") {
			t.Fatal("exported key does not authenticate on the other server")
		}
	})
}

// RFC 6030 figure 8 (RSA key transport), its secret re-encrypted to a key
// of the test's own (the RFC does not publish its private key).
func TestImportRSAKeyTransport(t *testing.T) {
	e := newCLI(t)
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(dir, "key.pem")
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	//lint:ignore SA1019 the test writes what vendors write (rsa_1_5)
	ct, _ := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte("12345678901234567890"))
	re := regexp.MustCompile(`(?s)(<Secret>.*?<xenc:CipherValue>).*?(</xenc:CipherValue>)`)
	f := filepath.Join(dir, "fig8.pskcxml")
	os.WriteFile(f, []byte(re.ReplaceAllString(string(mustRead(t, "rfc6030-figure8.pskcxml")), "${1}"+base64.StdEncoding.EncodeToString(ct)+"${2}")), 0o600)
	if _, errs, code := e.run("token", "import", f); code == 0 || !strings.Contains(errs, "--private-key") {
		t.Fatalf("without the key: %d %s", code, errs)
	}
	e.ok("token", "import", f, "--private-key", kf)
	e.ok("user", "add", "dee")
	e.ok("token", "assign", "987654321", "dee")
	if !strings.Contains(e.ok("token", "check", "dee", hotpAt([]byte("12345678901234567890"), 0)), "accept") {
		t.Fatal("the RSA-transported key does not authenticate")
	}
}

// Seed CSVs as spreadsheets write them: separated by semicolons (where the
// comma is the decimal mark) or tabs. A line that cannot be read is named
// by its number and serial, never shown: it holds a secret.
func TestSeedCSVSeparatorsAndNoSecretInErrors(t *testing.T) {
	const secret = "3132333435363738393031323334353637383930"
	tests := []struct {
		name, content string
		imported      int
		want          string
	}{
		{"semicolons", "serial;secret;type;digits;period_or_counter\nSC-1;" + secret + ";hotp;6;0\nSC-2;" + secret + ";totp;6;30\n", 2, ""},
		{"tabs", "TB-1\t" + secret + "\thotp\t6\t0\n", 1, ""},
		{"a line of another separator", "XS-1;" + secret + ";hotp;6;0\nXS-2," + secret + ",hotp,6,0\n", 0, "line 2: 1 fields"},
		{"a secret where the serial goes", secret + "-" + secret + ";x;hotp;6;0\n", 0, "line 1: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLI(t)
			f := filepath.Join(t.TempDir(), "seeds.csv")
			os.WriteFile(f, []byte(tc.content), 0o600)
			out, errs, code := e.run("token", "import", f)
			if strings.Contains(out+errs, secret) {
				t.Fatalf("a secret was printed:\n%s%s", out, errs)
			}
			if tc.imported > 0 {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				var toks []tokenJSON
				jsonUnmarshal(e.ok("token", "list", "--json"), &toks)
				if len(toks) != tc.imported {
					t.Fatalf("%d tokens imported, want %d", len(toks), tc.imported)
				}
				return
			}
			if code == 0 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, %q; want %q", code, errs, tc.want)
			}
		})
	}
}
