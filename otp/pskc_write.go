package otp

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// PSKCEncryption says how WritePSKC protects the secrets: with a 16-byte
// pre-shared key, or a password (PBKDF2-HMAC-SHA1, Iterations rounds).
type PSKCEncryption struct {
	PreSharedKey []byte
	Password     string
	Iterations   int // default 100000
}

// WritePSKC writes keys as an RFC 6030 document, every secret encrypted
// with AES-128-CBC and authenticated with HMAC-SHA1 under a fresh MAC key.
func WritePSKC(w io.Writer, keys []PSKCKey, enc PSKCEncryption) error {
	var key, salt []byte
	switch {
	case len(enc.PreSharedKey) == 16 && enc.Password == "":
		key = enc.PreSharedKey
	case enc.Password != "" && enc.PreSharedKey == nil:
		if enc.Iterations == 0 {
			enc.Iterations = 100000
		}
		salt = make([]byte, 16)
		rand.Read(salt)
		var err error
		if key, err = pbkdf2.Key(sha1.New, enc.Password, salt, enc.Iterations, 16); err != nil {
			return err
		}
	default:
		return errors.New("pskc: export needs a 16-byte pre-shared key or a password")
	}
	macKey := make([]byte, 20)
	rand.Read(macKey)
	seal := func(pt []byte) (string, error) {
		blk, err := aes.NewCipher(key)
		if err != nil {
			return "", err
		}
		n := aes.BlockSize - len(pt)%aes.BlockSize
		padded := append(append([]byte(nil), pt...), strings.Repeat(string(rune(n)), n)...)
		out := make([]byte, aes.BlockSize+len(padded))
		rand.Read(out[:aes.BlockSize])
		cipher.NewCBCEncrypter(blk, out[:aes.BlockSize]).CryptBlocks(out[aes.BlockSize:], padded)
		return base64.StdEncoding.EncodeToString(out), nil
	}
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"` +
		` xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:xenc11="http://www.w3.org/2009/xmlenc11#"` +
		` xmlns:pkcs5="http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#">` + "\n")
	if salt != nil {
		p(`  <EncryptionKey><xenc11:DerivedKey><xenc11:KeyDerivationMethod Algorithm="%s"><pkcs5:PBKDF2-params>`+
			`<Salt><Specified>%s</Specified></Salt><IterationCount>%d</IterationCount><KeyLength>16</KeyLength>`+
			`</pkcs5:PBKDF2-params></xenc11:KeyDerivationMethod></xenc11:DerivedKey></EncryptionKey>`+"\n",
			pkcs5PBKDF2, base64.StdEncoding.EncodeToString(salt), enc.Iterations)
	} else {
		p("  <EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey>\n")
	}
	ctMAC, err := seal(macKey)
	if err != nil {
		return err
	}
	p(`  <MACMethod Algorithm="%s"><MACKey><xenc:EncryptionMethod Algorithm="%s"/><xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData></MACKey></MACMethod>`+"\n",
		dsigHMACSHA1, xencAES128CBC, ctMAC)
	for _, k := range keys {
		ct, err := seal(k.Secret)
		if err != nil {
			return err
		}
		raw, _ := base64.StdEncoding.DecodeString(ct)
		m := hmac.New(sha1.New, macKey)
		m.Write(raw)
		alg := pskcHOTP
		if k.Params.Type == TOTP {
			alg = pskcTOTP
		}
		p("  <KeyPackage>\n    <DeviceInfo>")
		if k.Manufacturer != "" {
			p("<Manufacturer>%s</Manufacturer>", esc(k.Manufacturer))
		}
		p("<SerialNo>%s</SerialNo>", esc(k.Serial))
		if k.Model != "" {
			p("<Model>%s</Model>", esc(k.Model))
		}
		p("</DeviceInfo>\n")
		p(`    <Key Id="%s" Algorithm="%s">`, esc(k.Serial), alg)
		if k.Issuer != "" {
			p("<Issuer>%s</Issuer>", esc(k.Issuer))
		}
		p("<AlgorithmParameters>")
		if k.Params.Algorithm != SHA1 && k.Params.Algorithm != "" {
			p("<Suite>HMAC-%s</Suite>", k.Params.Algorithm)
		}
		p(`<ResponseFormat Length="%d" Encoding="DECIMAL"/></AlgorithmParameters>`, k.Params.Digits)
		p(`<Data><Secret><EncryptedValue><xenc:EncryptionMethod Algorithm="%s"/><xenc:CipherData><xenc:CipherValue>%s</xenc:CipherValue></xenc:CipherData></EncryptedValue><ValueMAC>%s</ValueMAC></Secret>`,
			xencAES128CBC, ct, base64.StdEncoding.EncodeToString(m.Sum(nil)))
		if k.Params.Type == HOTP {
			p("<Counter><PlainValue>%d</PlainValue></Counter>", k.Counter)
		} else {
			p("<TimeInterval><PlainValue>%d</PlainValue></TimeInterval>", k.Params.Period)
			if k.Drift != 0 {
				p("<TimeDrift><PlainValue>%d</PlainValue></TimeDrift>", k.Drift)
			}
		}
		p("</Data>")
		if !k.NotBefore.IsZero() || !k.NotAfter.IsZero() {
			p("<Policy>")
			if !k.NotBefore.IsZero() {
				p("<StartDate>%s</StartDate>", k.NotBefore.UTC().Format(time.RFC3339))
			}
			if !k.NotAfter.IsZero() {
				p("<ExpiryDate>%s</ExpiryDate>", k.NotAfter.UTC().Format(time.RFC3339))
			}
			p("</Policy>")
		}
		if k.UserID != "" {
			p("<UserId>%s</UserId>", esc(k.UserID))
		}
		p("</Key>\n  </KeyPackage>\n")
	}
	p("</KeyContainer>\n")
	return bw.Flush()
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
