package main

import (
	"testing"

	"github.com/radmfa/radmfa/otp"
)

func TestCoder(t *testing.T) {
	// RFC 4226 appendix D: the codes of "12345678901234567890" at 0-9.
	rfc := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	c := newCoder()
	tests := []struct {
		name     string
		seed     []byte
		counters []uint64
		want     func(i int, counter uint64) string
	}{
		{"RFC 4226 vectors", []byte("12345678901234567890"), []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
			func(i int, _ uint64) string { return rfc[i] }},
		{"benchmark seed like pquerna", AnchorSeed(7), []uint64{0, 1, 1 << 20, 59 / 30, 1234567890 / 30, 1<<63 + 5},
			func(_ int, n uint64) string {
				return otp.Code(AnchorSeed(7), n, otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6})
			}},
		{"seed of a full block", []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), []uint64{0, 42},
			func(_ int, n uint64) string {
				return otp.NewGenerator([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
					otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}).Code(n)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, n := range tc.counters {
				if got, want := c.at(tc.seed, n), tc.want(i, n); got != want {
					t.Errorf("counter %d: code %s, want %s", n, got, want)
				}
			}
		})
	}
}

func TestCoderAcrossUsers(t *testing.T) {
	// One coder serves every user in turn, as a worker's does: nothing of
	// one user's code may leak into the next.
	c := newCoder()
	p := otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}
	for u := range 50 {
		for _, n := range []uint64{0, uint64(u), 1000 + uint64(u)} {
			want := otp.NewGenerator(AnchorSeed(u), p).Code(n)
			if got := c.at(AnchorSeed(u), n); got != want {
				t.Fatalf("user %d counter %d: %s, want %s", u, n, got, want)
			}
		}
	}
}

func BenchmarkCoder(b *testing.B) {
	c := newCoder()
	seed := AnchorSeed(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.at(seed, uint64(i))
	}
}
