package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radmfa/radmfa/otp"
)

// pskcCommand writes a large PSKC file for import benchmarks: random HOTP
// seeds, encrypted with a pre-shared key.
func pskcCommand() *cli.Command {
	return &cli.Command{
		Name:  "pskc",
		Usage: "write a PSKC file of N random HOTP keys (PSK-encrypted) for import benchmarks",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "keys", Value: 100000, Usage: "how many keys"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "file to write"},
			&cli.StringFlag{Name: "key-file", Required: true, Usage: "file with the 16-byte pre-shared key in hex"},
			&cli.StringFlag{Name: "prefix", Value: "BENCHHW-", Usage: "serial prefix"},
		},
		Action: func(c *cli.Context) error {
			b, err := os.ReadFile(c.String("key-file"))
			if err != nil {
				return err
			}
			psk, err := hex.DecodeString(strings.TrimSpace(string(b)))
			if err != nil || len(psk) != 16 {
				return errors.New("--key-file: want 16 bytes in hex")
			}
			start := time.Now()
			keys := make([]otp.PSKCKey, c.Int("keys"))
			for i := range keys {
				seed := make([]byte, 20)
				rand.Read(seed)
				keys[i] = otp.PSKCKey{Serial: fmt.Sprintf("%s%08d", c.String("prefix"), i), Manufacturer: "Bench", Model: "B-6",
					Secret: seed, Params: otp.Params{Type: otp.HOTP, Algorithm: otp.SHA1, Digits: 6}}
			}
			f, err := os.OpenFile(c.String("out"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if err := otp.WritePSKC(f, keys, otp.PSKCEncryption{PreSharedKey: psk}); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Printf("wrote %d keys to %s in %s\n", len(keys), c.String("out"), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}
