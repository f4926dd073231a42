package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/radmfa/radmfa/internal/smtptest"
)

// mailBody is a received message's text, its transfer encoding undone.
func mailBody(t *testing.T, data string) string {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An enrollment by email: the user gets a link and the activation code
// from a real SMTP conversation; the page's code shows the token once; the
// token logs in over RADIUS; the link does not work twice.
func TestEnrollmentEmail(t *testing.T) {
	mailer := smtptest.Start(t)
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "ella", "--email", "ella@example.com")
	srv := startPushServer(t, e)
	smtp := []string{"--smtp-addr", mailer.Addr, "--smtp-from", "mfa@example.com", "--smtp-tls", "none"}

	var out map[string]string
	if err := json.Unmarshal([]byte(e.ok(append(smtp, "token", "enroll", "ella", "--email", "--json")...)), &out); err != nil {
		t.Fatal(err)
	}
	msgs := mailer.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ella@example.com" || msgs[0].From != "mfa@example.com" {
		t.Fatalf("mail: %+v", msgs)
	}
	body := mailBody(t, msgs[0].Data)
	link := regexp.MustCompile(`https://\S+/enroll\?serial=\S+`).FindString(body)
	code := regexp.MustCompile(`(?m)^    ([A-Z0-9]{12})\s*$`).FindStringSubmatch(body)
	if link == "" || link != out["enroll_url"] || code == nil || out["activation_code"] != "" {
		t.Fatalf("link %q code %v in:\n%s\nCLI: %v", link, code, body, out)
	}
	if strings.Contains(body, "otpauth://") || strings.Contains(body, "secret=") {
		t.Fatalf("the email holds the token's secret:\n%s", body)
	}

	// The page, over the device API's HTTPS (its self-signed certificate).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Activation code") {
		t.Fatalf("GET %s: %d\n%s", link, resp.StatusCode, page)
	}
	u, _ := url.Parse(link)
	redeem := func() (int, map[string]string) {
		req := `{"serial":"` + u.Query().Get("serial") + `","code":"` + code[1] + `"}`
		resp, err := hc.Post(u.Scheme+"://"+u.Host+"/v1/self-enroll", "application/json", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, got := redeem()
	if status != 200 || !strings.HasPrefix(got["otpauth_uri"], "otpauth://totp/") {
		t.Fatalf("redeem: %d %v", status, got)
	}
	if status, _ := redeem(); status != 403 {
		t.Fatalf("the code a second time: %d", status)
	}
	_, seed := e.enrollSecretFrom(map[string]string{"uri": got["otpauth_uri"]})
	n := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	if p := n.exchange("ella", totpNow(seed)); p.Code != radius.CodeAccessAccept {
		t.Fatalf("login with the self-enrolled token: %v", p.Code)
	}

	t.Run("the code sent another way", func(t *testing.T) {
		var out map[string]string
		if err := json.Unmarshal([]byte(e.ok(append(smtp, "token", "enroll", "ella", "--email", "--to", "ella@home.example",
			"--code-separately", "--json")...)), &out); err != nil {
			t.Fatal(err)
		}
		msgs := mailer.Messages()
		last := msgs[len(msgs)-1]
		text := mailBody(t, last.Data)
		if last.To[0] != "ella@home.example" || out["activation_code"] == "" || strings.Contains(text, out["activation_code"]) ||
			!strings.Contains(text, out["enroll_url"]) {
			t.Fatalf("CLI %v; mail:\n%s", out, text)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		e.ok("user", "add", "nomail")
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"no SMTP server", []string{"token", "enroll", "ella", "--email"}, "--smtp-addr and --smtp-from"},
			{"no address", append(smtp, "token", "enroll", "nomail", "--email"), "has no email address"},
			{"a server that refuses", []string{"--smtp-addr", "127.0.0.1:1", "--smtp-from", "mfa@example.com", "--smtp-tls", "none", "token", "enroll", "ella", "--email"}, "mail: sending to"},
			{"bad TLS mode", []string{"--smtp-addr", mailer.Addr, "--smtp-from", "mfa@example.com", "--smtp-tls", "maybe", "token", "enroll", "ella", "--email"}, "want starttls, implicit or none"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				before := len(strings.Split(strings.TrimSpace(e.ok("token", "list", "--user", tc.args[len(tc.args)-2])), "\n"))
				_, errOut, code := e.run(tc.args...)
				if code == 0 || !strings.Contains(errOut, tc.want) {
					t.Fatalf("exit %d, %q; want %q", code, errOut, tc.want)
				}
				if after := len(strings.Split(strings.TrimSpace(e.ok("token", "list", "--user", tc.args[len(tc.args)-2])), "\n")); after != before {
					t.Fatalf("a failed enrollment left a token (%d rows, were %d)", after, before)
				}
			})
		}
	})
}
