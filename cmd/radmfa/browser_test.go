package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/serviceworker"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/radmfa/radmfa/internal/geoiptest"
	"github.com/radmfa/radmfa/internal/smtptest"
	"github.com/radmfa/radmfa/push"
)

// headless starts Debian's chromium for the test, phone-sized; the device
// API's self-signed certificate is accepted for 127.0.0.1 (a browser of a
// real user needs a certificate it trusts: see the README).
func headless(t *testing.T) context.Context {
	t.Helper()
	bin := requireTool(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(430, 900),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("allow-insecure-localhost", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatal(err)
	}
	return ctx
}

// screenshot keeps what the page shows: in RADMFA_SCREENSHOTS (docs/, for
// the README) when set, else in the test's directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("RADMFA_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// enrollOnPage opens an enrollment link, enters the activation code and
// waits for what the page shows next (then).
func enrollOnPage[S chromedp.Selectable](t *testing.T, ctx context.Context, d time.Duration, link, code string, then S) {
	t.Helper()
	within(t, ctx, d,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(then))
}

// within runs actions with a time limit.
func within(t *testing.T, ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatal(err)
	}
}

// The self-enrollment page and the web authenticator in a real browser:
// a TOTP token enrolled from the email's link logs in; the web app
// enrolled for a push token approves and denies logins, picks the number,
// and its service worker shows a delivered push.
func TestWebAuthenticatorInChromium(t *testing.T) {
	ctx := headless(t)
	mail := smtptest.Start(t)
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("client", "add", "vpn-nm", "--cidr", "127.0.0.2/32", "--secret", "testing123", "--number-matching", "on")
	e.ok("user", "add", "tina", "--email", "tina@example.com")
	e.ok("user", "add", "pete", "--email", "pete@example.com")
	srv := startPushServer(t, e, "--push-timeout", "60s", "--push-burst", "10", "--geoip-db", geoiptest.Write(t))
	smtp := []string{"--smtp-addr", mail.Addr, "--smtp-from", "mfa@example.com", "--smtp-tls", "none"}
	codeRE := regexp.MustCompile(`(?m)^    ([A-Z0-9]{12})\s*$`)
	enrollByMail := func(user string, args ...string) (link, code string) {
		t.Helper()
		var out map[string]string
		if err := jsonUnmarshal(e.ok(append(append(smtp, "token", "enroll", user, "--email", "--json"), args...)...), &out); err != nil {
			t.Fatal(err)
		}
		msgs := mail.Messages()
		m := codeRE.FindStringSubmatch(mailBody(t, msgs[len(msgs)-1].Data))
		if m == nil {
			t.Fatalf("no code in the mail")
		}
		return out["enroll_url"], m[1]
	}

	t.Run("TOTP self-enrollment", func(t *testing.T) {
		link, code := enrollByMail("tina")
		enrollOnPage(t, ctx, 20*time.Second, link, code, chromedp.ID("done"))
		secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("secret")))
		if err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, "enroll-totp.png")
		_, seed := e.enrollSecretFrom(map[string]string{"uri": "otpauth://totp/x?secret=" + strings.ReplaceAll(secret, " ", "")})
		in := fmt.Sprintf("User-Name = tina\nUser-Password = %s\nMessage-Authenticator = 0x00\n", totpNow(seed))
		if out := radtool(t, in, "radclient", "-x", "-r", "1", "-t", "5", srv.addr, "auth", "testing123"); !strings.Contains(out, "Received Access-Accept") {
			t.Fatalf("radclient login with the key the page showed:\n%s", out)
		}
		// The link does not work twice.
		enrollOnPage(t, ctx, 20*time.Second, link, code, chromedp.ID("error"))
	})

	// The web app for pete's push token.
	link, code := enrollByMail("pete", "--type", "push")
	u, _ := url.Parse(link)
	origin := u.Scheme + "://" + u.Host
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: origin}); err != nil {
		t.Fatal(err)
	}
	var regMu sync.Mutex
	var regID serviceworker.RegistrationID
	if err := chromedp.Listen(ctx, func(ev any) {
		switch x := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s %v", x.ExceptionDetails.Text, x.ExceptionDetails.Exception)
		case *runtime.EventConsoleAPICalled:
			for _, a := range x.Args {
				t.Logf("console.%s: %s %s", x.Type, a.Value, a.Description)
			}
		}
		if x, ok := ev.(*serviceworker.EventWorkerErrorReported); ok {
			t.Logf("service worker error: %+v", x.ErrorMessage)
		}
		if r, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			regMu.Lock()
			for _, x := range r.Registrations {
				if strings.HasSuffix(x.ScopeURL, "/app/") && !x.IsDeleted {
					regID = x.RegistrationID
				}
			}
			regMu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, serviceworker.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	defer func() {
		if t.Failed() {
			msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.href + " | " + (document.getElementById("error") || {}).textContent`))
			t.Logf("page: %s", msg)
		}
	}()
	enrollOnPage(t, ctx, 30*time.Second, link, code, chromedp.CSS(".token .code"))
	enrolled := time.Since(start)
	screenshot(t, ctx, "app.png")
	if out := e.ok("token", "list", "--user", "pete"); !strings.Contains(out, "active") && !strings.Contains(out, "assigned") {
		t.Fatalf("token list:\n%s", out)
	}

	vpn := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	login := func(n *nas) func() *radius.Packet {
		t.Helper()
		ch := make(chan *radius.Packet, 1)
		go func() { ch <- n.exchangeOnce("pete", "", 30*time.Second, fromStation("203.0.113.50")) }()
		return func() *radius.Packet {
			p := <-ch
			if p == nil {
				t.Fatal("no answer to the push login")
			}
			return p
		}
	}

	t.Run("approve", func(t *testing.T) {
		pushStart := time.Now()
		// radclient, as an administrator tries it: an empty password.
		radclientOut := make(chan string, 1)
		go func() {
			radclientOut <- radtool(t, "User-Name = pete\nUser-Password = \"\"\nCalling-Station-Id = \"203.0.113.50\"\nMessage-Authenticator = 0x00\n",
				"radclient", "-x", "-r", "1", "-t", "30", srv.addr, "auth", "testing123")
		}()
		held := func() *radius.Packet {
			out := <-radclientOut
			if !strings.Contains(out, "Received Access-Accept") {
				t.Fatalf("radclient:\n%s", out)
			}
			return &radius.Packet{Code: radius.CodeAccessAccept}
		}
		within(t, ctx, 20*time.Second, chromedp.WaitVisible(chromedp.CSS("li.request button.approve")))
		if where, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("li.request .location"))); err != nil || where != "Berlin, Germany" {
			t.Fatalf("the request's place: %q, %v", where, err)
		}
		screenshot(t, ctx, "app-request.png")
		within(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("li.request button.approve")))
		if p := held(); p.Code != radius.CodeAccessAccept {
			t.Fatalf("approved in the app: %v", p.Code)
		}
		// Answered: the request leaves the list.
		within(t, ctx, 10*time.Second, chromedp.WaitNotPresent(chromedp.CSS("li.request")))
		t.Logf("enroll in the browser %v; push login to Access-Accept with the app's approval %v; in all %v",
			enrolled.Round(time.Millisecond), time.Since(pushStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	})

	t.Run("a delivered push is shown; deny", func(t *testing.T) {
		held := login(vpn)
		within(t, ctx, 20*time.Second, chromedp.WaitVisible(chromedp.CSS("li.request button.deny")))
		attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS("li.request")))
		if err != nil {
			t.Fatal(err)
		}
		id := attrs["data-id"]
		regMu.Lock()
		reg := regID
		regMu.Unlock()
		if reg == "" {
			t.Fatal("no service worker registration seen")
		}
		// DevTools hands the message to the worker as a push service would;
		// a worker still starting up may miss it, so it is sent again
		// (as push services redeliver) until the notification shows.
		var tags []string
		for try := 0; try < 5 && !slices.Contains(tags, id); try++ {
			if _, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: origin, RegistrationID: reg, Data: fmt.Sprintf(`{"id":%q,"title":"Login request"}`, id)}); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !slices.Contains(tags, id); time.Sleep(100 * time.Millisecond) {
				tags, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`navigator.serviceWorker.getRegistration("/app/").then(r => r.getNotifications()).then(ns => ns.map(n => n.tag))`,
					chromedp.EvalAwaitPromise))
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if !slices.Contains(tags, id) {
			t.Fatalf("the service worker showed no notification for %s: %v", id, tags)
		}
		within(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("li.request button.deny")))
		if p := held(); p.Code != radius.CodeAccessReject {
			t.Fatalf("denied in the app: %v", p.Code)
		}
		within(t, ctx, 10*time.Second, chromedp.WaitNotPresent(chromedp.CSS("li.request")))
	})

	t.Run("number matching", func(t *testing.T) {
		nm := newNAS(t, "127.0.0.2", srv.addr, "testing123")
		for _, right := range []bool{true, false} {
			p := nm.exchange("pete", "", fromStation("203.0.113.51"))
			number, state := challenge(t, p)
			within(t, ctx, 20*time.Second, chromedp.WaitVisible(chromedp.CSS("li.request button.number")))
			if right {
				screenshot(t, ctx, "app-number-matching.png")
			}
			nums, err := chromedp.Run(ctx, chromedp.AttributesAll(chromedp.CSSAll("li.request button.number")))
			if err != nil || len(nums) != 3 {
				t.Fatalf("number buttons: %v, %v", nums, err)
			}
			pick := fmt.Sprint(number)
			if !right {
				for _, a := range nums {
					if a["data-number"] != pick {
						pick = a["data-number"]
						break
					}
				}
			}
			within(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS(`li.request button.number[data-number="`+pick+`"]`)))
			got := nm.exchange("pete", "", withState(state), fromStation("203.0.113.51"))
			want := radius.CodeAccessAccept
			if !right {
				want = radius.CodeAccessReject
			}
			if got.Code != want {
				t.Fatalf("picked the %s number: %v (%q)", map[bool]string{true: "right", false: "wrong"}[right], got.Code, rfc2865.ReplyMessage_GetString(got))
			}
			within(t, ctx, 10*time.Second, chromedp.WaitNotPresent(chromedp.CSS("li.request")))
		}
	})
	if rows := strings.Join(e.authRows("pete"), ","); !strings.Contains(rows, "accept:push_approved") || !strings.Contains(rows, "reject:push_denied") ||
		!strings.Contains(rows, "reject:push_wrong_number") {
		t.Fatalf("audit: %s", rows)
	}
}

// freeTCPPort is a TCP port on 127.0.0.1 free a moment ago.
func freeTCPPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// With --require-user-verification the web app registers the phone
// owner's WebAuthn credential at enrollment (here DevTools' virtual
// authenticator, with user verification), and an approval carries an
// assertion of it: approved through the app -> Access-Accept; an approval
// without the assertion -> refused.
func TestWebAuthenticatorUserVerification(t *testing.T) {
	ctx := headless(t)
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatal(err)
	}
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "uma")
	// WebAuthn wants a domain name: the device API is localhost.
	port := freeTCPPort(t)
	srv := startPushServer(t, e, "--http-addr", "127.0.0.1:"+port, "--public-url", "https://localhost:"+port, "--require-user-verification")
	m := enrollJSON(t, e, "uma", "--type", "push")
	en, err := push.ParseEnrollmentURI(m["activation_uri"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: en.URL}); err != nil {
		t.Fatal(err)
	}
	enrollOnPage(t, ctx, 30*time.Second, en.URL+"/enroll?serial="+en.Serial, en.Code, chromedp.CSS(".token .code"))
	if n := e.auditCount("uma", "device.webauthn", "ok"); n != 1 {
		t.Fatalf("%d WebAuthn registrations audited:\n%s", n, e.ok("audit", "--user", "uma"))
	}
	vpn := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	login := func() func() *radius.Packet {
		ch := make(chan *radius.Packet, 1)
		go func() { ch <- vpn.exchangeOnce("uma", "", 30*time.Second, fromStation("203.0.113.60")) }()
		return func() *radius.Packet { return <-ch }
	}

	held := login()
	within(t, ctx, 20*time.Second, chromedp.WaitVisible(chromedp.CSS("li.request .uv")))
	within(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("li.request button.approve")))
	if p := held(); p == nil || p.Code != radius.CodeAccessAccept {
		t.Fatalf("approved with the owner's verification: %v", p)
	}
	within(t, ctx, 10*time.Second, chromedp.WaitNotPresent(chromedp.CSS("li.request")))

	held = login()
	within(t, ctx, 20*time.Second, chromedp.WaitVisible(chromedp.CSS("li.request button.approve")))
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS("li.request")))
	if err != nil {
		t.Fatal(err)
	}
	// The device's own key signs, but no assertion comes with it.
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`radmfa.listTokens().then(ts => radmfa.answer(ts[0], %q, "approve")).then(() => "approved", e => String(e.status))`, attrs["data-id"]),
		chromedp.EvalAwaitPromise))
	if err != nil || got != "403" {
		t.Fatalf("an approval without the assertion: %q, %v", got, err)
	}
	within(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("li.request button.deny")))
	if p := held(); p == nil || p.Code != radius.CodeAccessReject {
		t.Fatalf("after the refused approval, denied: %v", p)
	}
	if n := e.auditCount("", "push.answer", "refused"); n < 1 {
		t.Fatalf("the refused approval is not audited:\n%s", e.ok("audit"))
	}
}

// A phone enrolled where no verification could be registered (here: no
// authenticator yet) sets it up later from the app, and then approves a
// login that requires it.
func TestWebAuthenticatorSetUpVerificationLater(t *testing.T) {
	ctx := headless(t)
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	e := newCLI(t)
	e.ok("client", "add", "vpn", "--cidr", "127.0.0.1/32", "--secret", "testing123")
	e.ok("user", "add", "vic")
	port := freeTCPPort(t)
	srv := startPushServer(t, e, "--http-addr", "127.0.0.1:"+port, "--public-url", "https://localhost:"+port, "--require-user-verification")
	m := enrollJSON(t, e, "vic", "--type", "push")
	en, err := push.ParseEnrollmentURI(m["activation_uri"])
	if err != nil {
		t.Fatal(err)
	}
	enrollOnPage(t, ctx, 30*time.Second, en.URL+"/enroll?serial="+en.Serial, en.Code, chromedp.CSS(".token .code"))
	if n := e.auditCount("vic", "device.webauthn", "ok"); n != 0 {
		t.Fatalf("registered without an authenticator: %d", n)
	}
	// The phone gets its fingerprint reader.
	if _, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatal(err)
	}
	within(t, ctx, 20*time.Second,
		chromedp.Navigate(en.URL+"/app/"),
		chromedp.WaitVisible(chromedp.ID("setupuv")),
		chromedp.Click(chromedp.ID("setupuv")),
		chromedp.WaitNotVisible(chromedp.ID("setupuv")))
	if n := e.auditCount("vic", "device.webauthn", "ok"); n != 1 {
		t.Fatalf("%d registrations after setting it up", n)
	}
	vpn := newNAS(t, "127.0.0.1", srv.addr, "testing123")
	held := inBackground(func() string {
		p := vpn.exchangeOnce("vic", "", 30*time.Second, fromStation("203.0.113.61"))
		if p == nil {
			return "no answer"
		}
		return p.Code.String()
	})
	within(t, ctx, 20*time.Second, chromedp.WaitVisible(chromedp.CSS("li.request .uv")), chromedp.Click(chromedp.CSS("li.request button.approve")))
	if got := held(); got != radius.CodeAccessAccept.String() {
		t.Fatalf("approved after setting verification up: %s", got)
	}
}
