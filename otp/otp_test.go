package otp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	potp "github.com/pquerna/otp"
)

var (
	rfcSeed1   = []byte("12345678901234567890")
	rfcSeed256 = []byte("12345678901234567890123456789012")
	rfcSeed512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

// RFC 4226 Appendix D.
func TestHOTPRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	p := Params{Type: HOTP, Algorithm: SHA1, Digits: 6}
	for c, w := range want {
		if got := Code(rfcSeed1, uint64(c), p); got != w {
			t.Errorf("counter %d: got %s, want %s", c, got, w)
		}
	}
}

// RFC 6238 Appendix B, all three algorithms.
func TestTOTPRFC6238Vectors(t *testing.T) {
	tests := []struct {
		unix int64
		alg  Algorithm
		want string
	}{
		{59, SHA1, "94287082"}, {59, SHA256, "46119246"}, {59, SHA512, "90693936"},
		{1111111109, SHA1, "07081804"}, {1111111109, SHA256, "68084774"}, {1111111109, SHA512, "25091201"},
		{1111111111, SHA1, "14050471"}, {1111111111, SHA256, "67062674"}, {1111111111, SHA512, "99943326"},
		{1234567890, SHA1, "89005924"}, {1234567890, SHA256, "91819424"}, {1234567890, SHA512, "93441116"},
		{2000000000, SHA1, "69279037"}, {2000000000, SHA256, "90698825"}, {2000000000, SHA512, "38618901"},
		{20000000000, SHA1, "65353130"}, {20000000000, SHA256, "77737706"}, {20000000000, SHA512, "47863826"},
	}
	seeds := map[Algorithm][]byte{SHA1: rfcSeed1, SHA256: rfcSeed256, SHA512: rfcSeed512}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/t=%d", tc.alg, tc.unix), func(t *testing.T) {
			p := Params{Type: TOTP, Algorithm: tc.alg, Digits: 8, Period: 30}
			seed := seeds[tc.alg]
			if got := Code(seed, uint64(Step(tc.unix, 30)), p); got != tc.want {
				t.Fatalf("t=%d %s: got %s, want %s", tc.unix, tc.alg, got, tc.want)
			}
			step, ok := VerifyTOTP(seed, p, tc.want, tc.unix, 0, 0, 1)
			if !ok || step != Step(tc.unix, 30) {
				t.Fatalf("VerifyTOTP(t=%d) = %d, %v", tc.unix, step, ok)
			}
		})
	}
}

func TestVerifyHOTP(t *testing.T) {
	p := Params{Type: HOTP, Algorithm: SHA1, Digits: 6}
	tests := []struct {
		name      string
		code      string
		next      uint64
		lookAhead int
		wantCtr   uint64
		wantOK    bool
	}{
		{"exact", "755224", 0, 10, 0, true},
		{"ahead within window", "520489", 0, 10, 9, true},
		{"ahead beyond window", "520489", 0, 5, 0, false},
		{"already used", "755224", 1, 10, 0, false},
		{"wrong code", "000000", 0, 10, 0, false},
		{"too short", "75522", 0, 10, 0, false},
		{"not digits", "75522x", 0, 10, 0, false},
		{"too long", "7552240", 0, 10, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctr, ok := VerifyHOTP(rfcSeed1, p, tc.code, tc.next, tc.lookAhead)
			if ok != tc.wantOK || ctr != tc.wantCtr {
				t.Fatalf("got (%d, %v), want (%d, %v)", ctr, ok, tc.wantCtr, tc.wantOK)
			}
		})
	}
}

func TestVerifyTOTPWindowDriftReplay(t *testing.T) {
	p := Params{Type: TOTP, Algorithm: SHA1, Digits: 6, Period: 30}
	const now = int64(1_700_000_000)
	cur := Step(now, 30)
	code := func(s int64) string { return Code(rfcSeed1, uint64(s), p) }
	tests := []struct {
		name     string
		code     string
		drift    int64
		lastStep int64
		window   int
		wantStep int64
		wantOK   bool
	}{
		{"current", code(cur), 0, 0, 1, cur, true},
		{"one behind", code(cur - 1), 0, 0, 1, cur - 1, true},
		{"one ahead", code(cur + 1), 0, 0, 1, cur + 1, true},
		{"two ahead outside window", code(cur + 2), 0, 0, 1, 0, false},
		{"drift moves the window", code(cur + 5), 5, 0, 1, cur + 5, true},
		{"drift excludes the current step", code(cur), 5, 0, 1, 0, false},
		{"replay of last step", code(cur), 0, cur, 1, 0, false},
		{"older than last step", code(cur - 1), 0, cur, 1, 0, false},
		{"newer than last step", code(cur + 1), 0, cur, 1, cur + 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := VerifyTOTP(rfcSeed1, p, tc.code, now, tc.drift, tc.lastStep, tc.window)
			if ok != tc.wantOK || s != tc.wantStep {
				t.Fatalf("got (%d, %v), want (%d, %v)", s, ok, tc.wantStep, tc.wantOK)
			}
		})
	}
}

func TestResync(t *testing.T) {
	hp := Params{Type: HOTP, Algorithm: SHA256, Digits: 8}
	c1, c2 := Code(rfcSeed256, 100, hp), Code(rfcSeed256, 101, hp)
	if ctr, ok := ResyncHOTP(rfcSeed256, hp, c1, c2, 0, 120); !ok || ctr != 101 {
		t.Fatalf("ResyncHOTP = %d, %v; want 101, true", ctr, ok)
	}
	if _, ok := ResyncHOTP(rfcSeed256, hp, c2, c1, 0, 120); ok {
		t.Fatal("ResyncHOTP accepted codes in the wrong order")
	}
	if _, ok := ResyncHOTP(rfcSeed256, hp, c1, c2, 0, 50); ok {
		t.Fatal("ResyncHOTP accepted codes beyond the window")
	}

	tp := Params{Type: TOTP, Algorithm: SHA1, Digits: 6, Period: 60}
	const now = int64(1_800_000_000)
	s := Step(now, 60) + 90
	t1, t2 := Code(rfcSeed1, uint64(s), tp), Code(rfcSeed1, uint64(s+1), tp)
	if got, ok := ResyncTOTP(rfcSeed1, tp, t1, t2, now, 0, 120); !ok || got != s+1 {
		t.Fatalf("ResyncTOTP = %d, %v; want %d, true", got, ok, s+1)
	}
	if _, ok := ResyncTOTP(rfcSeed1, tp, t1, t2, now, s+1, 120); ok {
		t.Fatal("ResyncTOTP accepted already used steps")
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"totp 30", Params{TOTP, SHA1, 6, 30}, true},
		{"totp 60 sha512 8", Params{TOTP, SHA512, 8, 60}, true},
		{"hotp", Params{HOTP, SHA256, 6, 0}, true},
		{"bad period", Params{TOTP, SHA1, 6, 45}, false},
		{"bad digits", Params{HOTP, SHA1, 7, 0}, false},
		{"bad algorithm", Params{HOTP, "MD5", 6, 0}, false},
		{"bad type", Params{"motp", SHA1, 6, 30}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.p.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestURIRoundTripsThroughPquerna(t *testing.T) {
	seed := bytes.Repeat([]byte{0xAB}, 20)
	tests := []struct {
		name string
		p    Params
		want []string
	}{
		{"totp", Params{TOTP, SHA256, 8, 60}, []string{"otpauth://totp/", "period=60", "digits=8", "algorithm=SHA256"}},
		{"hotp", Params{HOTP, SHA1, 6, 0}, []string{"otpauth://hotp/", "counter=7", "digits=6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := URI("ACME VPN", "alice@example.com", seed, tc.p, 7)
			for _, w := range tc.want {
				if !strings.Contains(u, w) {
					t.Errorf("URI %q lacks %q", u, w)
				}
			}
			k, err := potp.NewKeyFromURL(u)
			if err != nil {
				t.Fatal(err)
			}
			if k.Issuer() != "ACME VPN" || k.AccountName() != "alice@example.com" || k.Type() != string(tc.p.Type) {
				t.Fatalf("parsed issuer=%q account=%q type=%q", k.Issuer(), k.AccountName(), k.Type())
			}
			got, err := DecodeSecret(k.Secret())
			if err != nil || !bytes.Equal(got, seed) {
				t.Fatalf("secret round trip: %x, %v", got, err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("755224", uint64(0), 10)
	f.Add("", uint64(1<<63), -1)
	f.Fuzz(func(t *testing.T, code string, next uint64, la int) {
		if la > 50 {
			la = 50
		}
		p := Params{Type: HOTP, Algorithm: SHA1, Digits: 6}
		if c, ok := VerifyHOTP(rfcSeed1, p, code, next, la); ok && Code(rfcSeed1, c, p) != code {
			t.Fatalf("matched counter %d does not produce %q", c, code)
		}
	})
}

func BenchmarkVerifyHOTP(b *testing.B) {
	p := Params{Type: HOTP, Algorithm: SHA1, Digits: 6}
	for _, bc := range []struct {
		name string
		at   uint64 // the counter the code is for; the token expects 0
	}{
		{"expected counter", 0}, // the usual login
		{"6th counter", 5},      // a token pressed without logging in
	} {
		b.Run(bc.name, func(b *testing.B) {
			code := Code(rfcSeed1, bc.at, p)
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := VerifyHOTP(rfcSeed1, p, code, 0, 10); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}

func BenchmarkVerifyTOTP(b *testing.B) {
	p := Params{Type: TOTP, Algorithm: SHA1, Digits: 6, Period: 30}
	const now = int64(1_700_000_000)
	code := Code(rfcSeed1, uint64(Step(now, 30)), p)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := VerifyTOTP(rfcSeed1, p, code, now, 0, 0, 1); !ok {
			b.Fatal("no match")
		}
	}
}

// TestGeneratorMatchesPquerna checks the verification loops' Generator
// against Code (pquerna/otp) for every algorithm and length, over counters
// that exercise every truncation offset, and seeds of several sizes.
func TestGeneratorMatchesPquerna(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		seed int
	}{
		{"sha1-6", Params{HOTP, SHA1, 6, 0}, 20},
		{"sha1-8", Params{HOTP, SHA1, 8, 0}, 10},
		{"sha256-6", Params{TOTP, SHA256, 6, 30}, 32},
		{"sha256-8", Params{TOTP, SHA256, 8, 60}, 20},
		{"sha512-6", Params{TOTP, SHA512, 6, 30}, 64},
		{"sha512-8", Params{HOTP, SHA512, 8, 0}, 16},
		// Longer than the hash's block: HMAC keys with the seed's hash.
		{"sha1 seed of 100 bytes", Params{HOTP, SHA1, 6, 0}, 100},
		{"sha512 seed of 200 bytes", Params{TOTP, SHA512, 8, 30}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := make([]byte, tc.seed)
			for i := range seed {
				seed[i] = byte(i*37 + tc.seed)
			}
			g := NewGenerator(seed, tc.p)
			defer g.Release()
			for _, c := range append([]uint64{0, 1 << 32, 1<<63 + 5, 59652000}, seq(1000)...) {
				if got, want := g.Code(c), Code(seed, c, tc.p); got != want {
					t.Fatalf("counter %d: Generator %s, pquerna %s", c, got, want)
				}
			}
		})
	}
}

func seq(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i)
	}
	return s
}
