package otp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
)

// PSKC (RFC 6030) reading: plaintext, pre-shared-key (AES-CBC with an
// HMAC over the ciphertext) and password-based (PBKDF2) encryption.

// PSKCKey is one HOTP or TOTP key read from a PSKC file.
type PSKCKey struct {
	KeyID        string // the Key's Id attribute, for error reports
	Serial       string // DeviceInfo/SerialNo, else the key id
	Manufacturer string
	Model        string
	Issuer       string
	UserID       string
	Params       Params
	Secret       []byte
	Counter      uint64 // HOTP
	Drift        int64  // TOTP, in steps
	NotBefore    time.Time
	NotAfter     time.Time
}

// PSKCOptions are the keys to decrypt with and the limits.
type PSKCOptions struct {
	PreSharedKey []byte          // for EncryptionKey/KeyName files
	Password     string          // for DerivedKey (PBKDF2) files
	PrivateKey   *rsa.PrivateKey // for X509Data (RSA key transport) files
	// MaxSize bounds the file (default 512 MiB).
	MaxSize int64
}

// PSKCProblem is one thing wrong with a file, by key id when it has one.
type PSKCProblem struct {
	KeyID string `json:"key_id,omitempty"`
	Msg   string `json:"problem"`
}

func (p PSKCProblem) String() string {
	if p.KeyID != "" {
		return "key " + p.KeyID + ": " + p.Msg
	}
	return p.Msg
}

// FormatProblems lists up to 20 problems after head, each after sep.
func FormatProblems(head, sep string, ps []PSKCProblem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s)", head, len(ps))
	for i, p := range ps {
		if i == 20 {
			fmt.Fprintf(&b, "%s... and %d more", sep, len(ps)-20)
			break
		}
		b.WriteString(sep + p.String())
	}
	return b.String()
}

// PSKCError lists every problem found in a file.
type PSKCError struct{ Problems []PSKCProblem }

func (e *PSKCError) Error() string { return FormatProblems("pskc", "; ", e.Problems) }

// Algorithm and encryption URIs.
const (
	pskcHOTP       = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
	pskcTOTP       = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
	pskcPIN        = "urn:ietf:params:xml:ns:keyprov:pskc:pin"
	xencAES128CBC  = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	xencAES192CBC  = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
	xencAES256CBC  = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	xencRSA15      = "http://www.w3.org/2001/04/xmlenc#rsa_1_5"
	xencRSAOAEP    = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	dsigHMACSHA1   = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
	dsigHMACSHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
	dsigHMACSHA512 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"
	pkcs5PBKDF2    = "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2"
)

type xAlg struct {
	Algorithm string `xml:"Algorithm,attr"`
}

type xEncrypted struct {
	EncryptionMethod xAlg   `xml:"EncryptionMethod"`
	CipherValue      string `xml:"CipherData>CipherValue"`
}

type xValue struct {
	PlainValue     *string     `xml:"PlainValue"`
	EncryptedValue *xEncrypted `xml:"EncryptedValue"`
	ValueMAC       string      `xml:"ValueMAC"`
}

type xEncryptionKey struct {
	KeyName    *string   `xml:"KeyName"`
	X509Data   *struct{} `xml:"X509Data"`
	DerivedKey *struct {
		Method struct {
			Algorithm string `xml:"Algorithm,attr"`
			Params    struct {
				Salt       string `xml:"Salt>Specified"`
				Iterations int    `xml:"IterationCount"`
				KeyLength  int    `xml:"KeyLength"`
				PRF        xAlg   `xml:"PRF"`
			} `xml:"PBKDF2-params"`
		} `xml:"KeyDerivationMethod"`
	} `xml:"DerivedKey"`
}

type xMACMethod struct {
	Algorithm string      `xml:"Algorithm,attr"`
	MACKey    *xEncrypted `xml:"MACKey"`
}

type xKeyPackage struct {
	DeviceInfo struct {
		Manufacturer string `xml:"Manufacturer"`
		SerialNo     string `xml:"SerialNo"`
		Model        string `xml:"Model"`
		StartDate    string `xml:"StartDate"`
		ExpiryDate   string `xml:"ExpiryDate"`
		UserID       string `xml:"UserId"`
	} `xml:"DeviceInfo"`
	Key *struct {
		ID        string `xml:"Id,attr"`
		Algorithm string `xml:"Algorithm,attr"`
		Issuer    string `xml:"Issuer"`
		Suite     string `xml:"AlgorithmParameters>Suite"`
		Response  *struct {
			Length   int    `xml:"Length,attr"`
			Encoding string `xml:"Encoding,attr"`
		} `xml:"AlgorithmParameters>ResponseFormat"`
		KeyReference string  `xml:"KeyReference"`
		Secret       *xValue `xml:"Data>Secret"`
		Counter      *xValue `xml:"Data>Counter"`
		Time         *xValue `xml:"Data>Time"`
		TimeInterval *xValue `xml:"Data>TimeInterval"`
		TimeDrift    *xValue `xml:"Data>TimeDrift"`
		Policy       struct {
			StartDate  string `xml:"StartDate"`
			ExpiryDate string `xml:"ExpiryDate"`
		} `xml:"Policy"`
		UserID string `xml:"UserId"`
	} `xml:"Key"`
}

// pskcReader holds what the container header says.
type pskcReader struct {
	opt      PSKCOptions
	encKey   []byte // nil: the file has no encryption key
	encErr   error  // why encKey could not be had
	rsaKey   *rsa.PrivateKey
	macKey   []byte
	macAlg   string
	problems []PSKCProblem
	packages int
}

func (r *pskcReader) problem(id, format string, a ...any) {
	r.problems = append(r.problems, PSKCProblem{KeyID: id, Msg: fmt.Sprintf(format, a...)})
}

// ReadPSKC reads a PSKC file and calls fn for each HOTP/TOTP key, in file
// order. It reads the whole file and reports every problem (bad MAC, wrong
// key, malformed entry, unsupported algorithm) in one *PSKCError; fn is
// called only for good keys, so a caller that stores keys must roll back
// when ReadPSKC fails. A DTD is refused: PSKC has none, and that closes
// entity expansion attacks.
func ReadPSKC(in io.Reader, opt PSKCOptions, fn func(PSKCKey) error) error {
	if opt.MaxSize <= 0 {
		opt.MaxSize = 512 << 20
	}
	lr := &io.LimitedReader{R: in, N: opt.MaxSize + 1}
	d := xml.NewDecoder(lr)
	d.Strict = true
	r := &pskcReader{opt: opt}
	depth := 0
	sawContainer := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return fmt.Errorf("pskc: file larger than %d bytes", opt.MaxSize)
			}
			return fmt.Errorf("pskc: malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("pskc: the file has a DTD (<!DOCTYPE or <!ENTITY); PSKC files have none, refused")
		case xml.StartElement:
			depth++
			if depth == 1 {
				if t.Name.Local != "KeyContainer" {
					return fmt.Errorf("pskc: root element is %s, not KeyContainer", t.Name.Local)
				}
				sawContainer = true
				for _, a := range t.Attr {
					if a.Name.Local == "Version" && a.Value != "1.0" {
						return fmt.Errorf("pskc: KeyContainer version %q not supported (want 1.0)", a.Value)
					}
				}
				continue
			}
			if depth != 2 {
				continue
			}
			depth--
			switch t.Name.Local {
			case "EncryptionKey":
				var ek xEncryptionKey
				if err := d.DecodeElement(&ek, &t); err != nil {
					return fmt.Errorf("pskc: malformed XML in EncryptionKey: %w", err)
				}
				r.encryptionKey(ek)
			case "MACMethod":
				var mm xMACMethod
				if err := d.DecodeElement(&mm, &t); err != nil {
					return fmt.Errorf("pskc: malformed XML in MACMethod: %w", err)
				}
				r.macMethod(mm)
			case "KeyPackage":
				var kp xKeyPackage
				if err := d.DecodeElement(&kp, &t); err != nil {
					return fmt.Errorf("pskc: malformed XML in KeyPackage %d: %w", r.packages+1, err)
				}
				r.packages++
				if k, ok := r.keyPackage(kp); ok {
					if err := fn(k); err != nil {
						r.problem(k.KeyID, "%v", err)
					}
				}
			default:
				if err := d.Skip(); err != nil {
					return fmt.Errorf("pskc: malformed XML: %w", err)
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	if !sawContainer {
		return errors.New("pskc: no KeyContainer: not a PSKC file")
	}
	if r.packages == 0 {
		r.problem("", "the file holds no KeyPackage")
	}
	if len(r.problems) > 0 {
		return &PSKCError{Problems: r.problems}
	}
	return nil
}

func (r *pskcReader) encryptionKey(ek xEncryptionKey) {
	switch {
	case ek.DerivedKey != nil:
		m := ek.DerivedKey.Method
		if m.Algorithm != pkcs5PBKDF2 {
			r.encErr = fmt.Errorf("key derivation %q not supported (PBKDF2 is)", m.Algorithm)
			return
		}
		if r.opt.Password == "" {
			r.encErr = errors.New("the file is password-encrypted: give --password")
			return
		}
		salt, err := b64(m.Params.Salt)
		p := m.Params
		if err != nil || len(salt) == 0 || p.Iterations < 1 || p.Iterations > 10_000_000 || (p.KeyLength != 0 && p.KeyLength != 16 && p.KeyLength != 24 && p.KeyLength != 32) {
			r.encErr = errors.New("malformed PBKDF2 parameters")
			return
		}
		h, err := hmacHash(p.PRF.Algorithm, true)
		if err != nil {
			r.encErr = err
			return
		}
		if p.KeyLength == 0 {
			p.KeyLength = 16
		}
		r.encKey, r.encErr = pbkdf2.Key(h, r.opt.Password, salt, p.Iterations, p.KeyLength)
	case ek.X509Data != nil:
		if r.opt.PrivateKey == nil {
			r.encErr = errors.New("the file is encrypted to an X.509 certificate (RSA key transport): give --private-key")
			return
		}
		r.rsaKey = r.opt.PrivateKey
	default:
		// A named pre-shared key, or an unnamed one (python-pskc writes an
		// empty EncryptionKey).
		if r.opt.PreSharedKey == nil {
			name := ""
			if ek.KeyName != nil {
				name = fmt.Sprintf(" %q", strings.TrimSpace(*ek.KeyName))
			}
			r.encErr = fmt.Errorf("the file is encrypted with pre-shared key%s: give --key-file", name)
			return
		}
		r.encKey = r.opt.PreSharedKey
	}
}

func (r *pskcReader) macMethod(mm xMACMethod) {
	r.macAlg = mm.Algorithm
	if mm.MACKey == nil {
		return
	}
	if r.encKey == nil {
		return // reported per key
	}
	k, err := r.decrypt(*mm.MACKey)
	if err != nil {
		r.encErr = fmt.Errorf("MAC key: %v (wrong key or password?)", err)
		r.encKey = nil
		return
	}
	r.macKey = k
}

func b64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}

// hmacHash maps a MAC/PRF URI to its hash; empty means SHA-1 where allowed.
func hmacHash(uri string, emptyOK bool) (func() hash.Hash, error) {
	switch uri {
	case dsigHMACSHA1:
		return sha1.New, nil
	case dsigHMACSHA256:
		return sha256.New, nil
	case dsigHMACSHA512:
		return sha512.New, nil
	case "":
		if emptyOK {
			return sha1.New, nil
		}
	}
	return nil, fmt.Errorf("MAC algorithm %q not supported", uri)
}

// decrypt opens an AES-CBC EncryptedValue (IV first, PKCS#7 padding).
func (r *pskcReader) decrypt(ev xEncrypted) ([]byte, error) {
	want := map[string]int{xencAES128CBC: 16, xencAES192CBC: 24, xencAES256CBC: 32}[ev.EncryptionMethod.Algorithm]
	if want == 0 {
		return nil, fmt.Errorf("encryption %q not supported (AES-CBC is)", ev.EncryptionMethod.Algorithm)
	}
	if len(r.encKey) != want {
		return nil, fmt.Errorf("the key is %d bytes, %s needs %d", len(r.encKey), ev.EncryptionMethod.Algorithm, want)
	}
	ct, err := b64(ev.CipherValue)
	if err != nil || len(ct) < 2*aes.BlockSize || len(ct)%aes.BlockSize != 0 {
		return nil, errors.New("malformed CipherValue")
	}
	blk, err := aes.NewCipher(r.encKey)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct)-aes.BlockSize)
	cipher.NewCBCDecrypter(blk, ct[:aes.BlockSize]).CryptBlocks(pt, ct[aes.BlockSize:])
	n := int(pt[len(pt)-1])
	if n < 1 || n > aes.BlockSize || !bytes.Equal(pt[len(pt)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, errors.New("bad padding (wrong key or password?)")
	}
	return pt[:len(pt)-n], nil
}

// decryptRSA opens a value encrypted to the importer's RSA key (RFC 6030
// section 6.3; the RSA padding authenticates it, there is no MAC).
func (r *pskcReader) decryptRSA(ev xEncrypted) ([]byte, error) {
	if r.rsaKey == nil {
		if r.encErr != nil {
			return nil, r.encErr
		}
		return nil, errors.New("RSA-encrypted, but the file names no certificate")
	}
	ct, err := b64(ev.CipherValue)
	if err != nil {
		return nil, errors.New("malformed CipherValue")
	}
	var pt []byte
	if ev.EncryptionMethod.Algorithm == xencRSAOAEP {
		pt, err = rsa.DecryptOAEP(sha1.New(), nil, r.rsaKey, ct, nil)
	} else {
		//lint:ignore SA1019 RFC 6030 figure 8 files use rsa_1_5; an offline import by the admin is no padding oracle
		pt, err = rsa.DecryptPKCS1v15(nil, r.rsaKey, ct)
	}
	if err != nil {
		return nil, errors.New("RSA decryption failed (wrong private key?)")
	}
	return pt, nil
}

// value returns a Data value, decrypting and checking its MAC.
func (r *pskcReader) value(v *xValue) ([]byte, error) {
	if v.PlainValue != nil {
		return b64(*v.PlainValue)
	}
	if v.EncryptedValue == nil {
		return nil, errors.New("neither PlainValue nor EncryptedValue")
	}
	if alg := v.EncryptedValue.EncryptionMethod.Algorithm; alg == xencRSA15 || alg == xencRSAOAEP {
		return r.decryptRSA(*v.EncryptedValue)
	}
	if r.encKey == nil {
		if r.encErr != nil {
			return nil, r.encErr
		}
		return nil, errors.New("encrypted, but the file has no EncryptionKey")
	}
	if v.ValueMAC == "" {
		return nil, errors.New("encrypted value without ValueMAC: refused (its integrity cannot be checked)")
	}
	h, err := hmacHash(r.macAlg, false)
	if err != nil {
		return nil, err
	}
	macKey := r.macKey
	if macKey == nil {
		macKey = r.encKey // files without MACKey MAC with the encryption key
	}
	ct, err := b64(v.EncryptedValue.CipherValue)
	if err != nil {
		return nil, errors.New("malformed CipherValue")
	}
	got, err := b64(v.ValueMAC)
	if err != nil {
		return nil, errors.New("malformed ValueMAC")
	}
	m := hmac.New(h, macKey)
	m.Write(ct)
	if !hmac.Equal(m.Sum(nil), got) {
		return nil, errors.New("MAC check failed: the value was altered, or the key or password is wrong")
	}
	return r.decrypt(*v.EncryptedValue)
}

func (r *pskcReader) intValue(v *xValue) (int64, error) {
	if v.PlainValue != nil {
		return strconv.ParseInt(strings.TrimSpace(*v.PlainValue), 10, 64)
	}
	b, err := r.value(v)
	if err != nil {
		return 0, err
	}
	if len(b) > 8 {
		return 0, errors.New("encrypted integer longer than 8 bytes")
	}
	var n int64
	for _, c := range b {
		n = n<<8 | int64(c)
	}
	return n, nil
}

func pskcTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q is not xs:dateTime", s)
}

// keyPackage turns a KeyPackage into a key, or records why not.
func (r *pskcReader) keyPackage(kp xKeyPackage) (PSKCKey, bool) {
	if kp.Key == nil {
		r.problem("", "KeyPackage %d has no Key", r.packages)
		return PSKCKey{}, false
	}
	x := kp.Key
	id := strings.TrimSpace(x.ID)
	if id == "" {
		id = fmt.Sprintf("#%d", r.packages)
	}
	if len(id) > 128 {
		id = id[:64] + "..."
		r.problem(id, "key id longer than 128 characters")
		return PSKCKey{}, false
	}
	k := PSKCKey{KeyID: id, Serial: strings.TrimSpace(kp.DeviceInfo.SerialNo), Manufacturer: strings.TrimSpace(kp.DeviceInfo.Manufacturer),
		Model: strings.TrimSpace(kp.DeviceInfo.Model), Issuer: strings.TrimSpace(x.Issuer), UserID: strings.TrimSpace(x.UserID)}
	if k.UserID == "" {
		k.UserID = strings.TrimSpace(kp.DeviceInfo.UserID)
	}
	if k.Serial == "" {
		k.Serial = id
	}
	for _, f := range []string{k.Serial, k.Manufacturer, k.Model, k.Issuer, k.UserID} {
		if len(f) > 256 {
			r.problem(id, "a device field is longer than 256 characters")
			return PSKCKey{}, false
		}
	}
	switch strings.TrimSpace(x.Algorithm) {
	case pskcHOTP, "urn:ietf:params:xml:ns:keyprov:pskc#hotp":
		k.Params.Type = HOTP
	case pskcTOTP, "urn:ietf:params:xml:ns:keyprov:pskc#totp":
		k.Params.Type = TOTP
		k.Params.Period = 30
	case pskcPIN:
		return PSKCKey{}, false // a device PIN, checked on the token itself: nothing to import
	default:
		r.problem(id, "algorithm %q not supported (HOTP and TOTP are)", x.Algorithm)
		return PSKCKey{}, false
	}
	k.Params.Algorithm = SHA1
	switch s := strings.ToUpper(strings.TrimSpace(x.Suite)); s {
	case "", "HMAC-SHA1", "SHA1":
	case "HMAC-SHA256", "SHA256":
		k.Params.Algorithm = SHA256
	case "HMAC-SHA512", "SHA512":
		k.Params.Algorithm = SHA512
	default:
		r.problem(id, "algorithm suite %q not supported", x.Suite)
		return PSKCKey{}, false
	}
	k.Params.Digits = 6
	if x.Response != nil {
		if e := strings.ToUpper(x.Response.Encoding); e != "" && e != "DECIMAL" {
			r.problem(id, "response encoding %q not supported (DECIMAL is)", x.Response.Encoding)
			return PSKCKey{}, false
		}
		if x.Response.Length != 0 {
			k.Params.Digits = x.Response.Length
		}
	}
	if x.Secret == nil {
		msg := "no secret in the file"
		if x.KeyReference != "" {
			msg += " (the key is derived from a vendor master key, KeyReference; ask for the secrets)"
		}
		r.problem(id, "%s", msg)
		return PSKCKey{}, false
	}
	sec, err := r.value(x.Secret)
	if err != nil {
		r.problem(id, "secret: %v", err)
		return PSKCKey{}, false
	}
	if len(sec) == 0 || len(sec) > 128 {
		r.problem(id, "secret of %d bytes (want 1-128)", len(sec))
		return PSKCKey{}, false
	}
	k.Secret = sec
	if x.Counter != nil {
		n, err := r.intValue(x.Counter)
		if err != nil || n < 0 {
			r.problem(id, "counter: malformed")
			return PSKCKey{}, false
		}
		k.Counter = uint64(n)
	}
	if x.Time != nil {
		n, err := r.intValue(x.Time)
		if err != nil || n != 0 {
			r.problem(id, "TOTP start time T0 other than 0 is not supported")
			return PSKCKey{}, false
		}
	}
	if x.TimeInterval != nil {
		n, err := r.intValue(x.TimeInterval)
		if err != nil {
			r.problem(id, "time interval: malformed")
			return PSKCKey{}, false
		}
		k.Params.Period = int(n)
	}
	if x.TimeDrift != nil {
		n, err := r.intValue(x.TimeDrift)
		if err != nil {
			r.problem(id, "time drift: malformed")
			return PSKCKey{}, false
		}
		k.Drift = n
	}
	if k.Params.Type == HOTP {
		k.Params.Period = 0
	}
	if err := k.Params.Validate(); err != nil {
		r.problem(id, "%v", strings.TrimPrefix(err.Error(), "otp: "))
		return PSKCKey{}, false
	}
	for _, d := range []struct {
		s   string
		dst *time.Time
	}{{x.Policy.StartDate, &k.NotBefore}, {kp.DeviceInfo.StartDate, &k.NotBefore}, {x.Policy.ExpiryDate, &k.NotAfter}, {kp.DeviceInfo.ExpiryDate, &k.NotAfter}} {
		t, err := pskcTime(d.s)
		if err != nil {
			r.problem(id, "%v", err)
			return PSKCKey{}, false
		}
		if !t.IsZero() && d.dst.IsZero() {
			*d.dst = t
		}
	}
	return k, true
}
