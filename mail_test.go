package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestSMTPURL: the two schemes, default ports, credentials with escapes,
// and errors that never repeat the URL (it holds the password).
func TestSMTPURL(t *testing.T) {
	good := []struct {
		raw  string
		want smtpSettings
	}{
		{"smtp://me%40example.com:p%40ss@smtp.example.com", smtpSettings{host: "smtp.example.com", port: 587, user: "me@example.com", pass: "p@ss"}},
		{"smtps://u:pw@mail.example.com", smtpSettings{implicitTLS: true, host: "mail.example.com", port: 465, user: "u", pass: "pw"}},
		{"smtp://relay.lan:2525", smtpSettings{host: "relay.lan", port: 2525}},
		{"smtp://[::1]:25/", smtpSettings{host: "::1", port: 25}},
	}
	for _, g := range good {
		got, err := parseSMTPURL(g.raw)
		if err != nil || got != g.want {
			t.Errorf("%s: %+v, %v; want %+v", g.raw, got, err, g.want)
		}
	}
	for _, bad := range []string{
		"http://u:hunter2@host", "smtp://u:hunter2@", "smtp://u:hunter2@host:99999", "smtp://u:hunter2@host:x",
		"smtp://u:hunter2@host/path", "smtp://u:hunter2@host?x=1", "u:hunter2@host", "smtp://u:hunter2@ho st",
	} {
		_, err := parseSMTPURL(bad)
		if err == nil {
			t.Errorf("%s accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", bad, err)
		}
	}
}

// TestMailFlags: --smtp needs --smtp-from; --public-url must be absolute;
// LIVECHAT_SMTP fills --smtp without the usage text ever printing it.
func TestMailFlags(t *testing.T) {
	env := map[string]string{"LIVECHAT_SMTP": "smtps://u:hunter2@mail.example.com"}
	getenv := func(k string) string { return env[k] }
	var stderr bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, getenv, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if strings.Contains(stderr.String(), "hunter2") || !strings.Contains(stderr.String(), "-smtp-from") {
		t.Errorf("usage shows the password or lacks the mail flags:\n%s", stderr.String())
	}
	if _, err := parseFlags(nil, getenv, &stderr); err == nil || !strings.Contains(err.Error(), "--smtp-from") {
		t.Errorf("no --smtp-from: %v", err)
	}
	cfg, err := parseFlags([]string{"--smtp-from", "Acme <help@acme.example>"}, getenv, &stderr)
	if err != nil || cfg.SMTP != env["LIVECHAT_SMTP"] {
		t.Errorf("env: SMTP=%q err=%v", cfg.SMTP, err)
	}
	cfg, err = parseFlags([]string{"--smtp", "smtp://other:pw@relay:25", "--smtp-from", "help@acme.example"}, getenv, &stderr)
	if err != nil || cfg.SMTP != "smtp://other:pw@relay:25" {
		t.Errorf("flag over env: SMTP=%q err=%v", cfg.SMTP, err)
	}
	for _, args := range [][]string{
		{"--smtp-from", "not an address"},
		{"--smtp-from", "a@b.example", "--public-url", "chat.example.com"},
		{"--smtp-from", "a@b.example", "--public-url", "ftp://chat.example.com"},
		{"--smtp", "smtp://u:hunter2@", "--smtp-from", "a@b.example"},
	} {
		_, err := parseFlags(args, getenv, &stderr)
		if err == nil {
			t.Errorf("%v accepted", args)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: error shows the password: %v", args, err)
		}
	}
	// Without --smtp the other mail flags are not required.
	if _, err := parseFlags([]string{"--public-url", "https://chat.example.com/"}, func(string) string { return "" }, &stderr); err != nil {
		t.Errorf("no mail: %v", err)
	}
}

// TestPublicURL: --public-url wins; otherwise the listen address, with a
// usable host for an unspecified one and https under TLS.
func TestPublicURL(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: ":8000", PublicURL: "https://chat.example.com/"}, "https://chat.example.com"},
		{Config{Addr: "127.0.0.1:8000"}, "http://127.0.0.1:8000"},
		{Config{Addr: ":8000"}, "http://localhost:8000"},
		{Config{Addr: "0.0.0.0:443", TLSCert: "c.pem"}, "https://localhost:443"},
		{Config{Addr: "[::1]:80"}, "http://[::1]:80"},
	} {
		if got := publicURL(c.cfg); got != c.want {
			t.Errorf("%+v: %q, want %q", c.cfg, got, c.want)
		}
	}
}

// TestMailOff: without --smtp nothing is queued and mail says it is off.
func TestMailOff(t *testing.T) {
	ts := newTestServer(t)
	if ts.Server.MailEnabled() {
		t.Fatal("mail enabled without --smtp")
	}
	ctx := context.Background()
	err := ts.DB.inTx(ctx, func(tx *sql.Tx) error { return ts.Server.outbox.Enqueue(ctx, tx, sampleMail(1)) })
	if err != nil {
		t.Fatal(err)
	}
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM goqite").Scan(&n)
	if n != 0 {
		t.Errorf("%d mails queued with mail off", n)
	}
	st, err := ts.Server.outbox.Status(ctx, 1)
	if err != nil || st.Enabled {
		t.Errorf("status %+v %v", st, err)
	}
}

// TestMailEnqueueIsTransactional: a mail queued in a transaction that
// rolls back is never sent, and a bad recipient is an error at once.
func TestMailEnqueueIsTransactional(t *testing.T) {
	st := startSMTP(t, false, "")
	ts := mailServer(t, st, false, "")
	ctx := context.Background()
	rollback := errors.New("the event failed")
	err := ts.DB.inTx(ctx, func(tx *sql.Tx) error {
		if err := ts.Server.outbox.Enqueue(ctx, tx, sampleMail(1)); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	for _, bad := range []func(*Mail){
		func(m *Mail) { m.To = "not an address" },
		func(m *Mail) { m.ReplyTo = "nope" },
		func(m *Mail) { m.Subject = "two\r\nBcc: x@evil.example" },
		func(m *Mail) { m.Subject = " " },
		func(m *Mail) { m.Link = "javascript:alert(1)" },
		func(m *Mail) { m.Unsubscribe = "/relative" },
	} {
		m := sampleMail(1)
		bad(&m)
		err := ts.DB.inTx(ctx, func(tx *sql.Tx) error { return ts.Server.outbox.Enqueue(ctx, tx, m) })
		if err == nil {
			t.Errorf("%+v queued", m)
		}
	}
	// A good one after them arrives alone.
	m := sampleMail(1)
	m.Subject = "the only one"
	enqueue(t, ts, m)
	got := st.waitReceived(1, 10*time.Second, 200*time.Millisecond)
	if !bytes.Contains(got[0].Data, []byte("Subject: the only one")) {
		t.Errorf("wrong mail arrived:\n%s", got[0].Data)
	}
}

// TestMailPasswordNotLogged: the sender's log lines about failed tries
// do not carry the SMTP password, even when the server echoes it.
func TestMailPasswordNotLogged(t *testing.T) {
	st := startSMTP(t, false, "")
	st.refuse = func(n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, Message: "not now, alice/s3cret!pw"}
		}
		return nil
	}
	ts := mailServer(t, st, false, "")
	var logs syncBuffer
	o := ts.Server.outbox
	o.Stop()
	o.log = slog.New(slog.NewTextHandler(&logs, nil))
	o.Start()
	enqueue(t, ts, sampleMail(1))
	st.waitReceived(1, 10*time.Second, 100*time.Millisecond)
	if !strings.Contains(logs.String(), "will retry") {
		t.Fatalf("the failed try was not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the log shows the password:\n%s", logs.String())
	}
}

// TestMailSettingsAPI: settings read mail's state and send a test email
// to the account's address, at most one per 30 s.
func TestMailSettingsAPI(t *testing.T) {
	off := newTestServer(t)
	oc := off.client()
	if r := oc.do("GET", "/accounts/api/mail", nil); r.Status != 401 {
		t.Errorf("signed out: %d", r.Status)
	}
	oc.must(201, "POST", "/accounts/api/signup", map[string]string{"username": "acme", "password": "correct horse battery", "email": "owner@acme.example"})
	if r := oc.must(200, "GET", "/accounts/api/mail", nil); r.JSON["enabled"] != false {
		t.Errorf("mail off: %s", r.Body)
	}
	if r := oc.do("POST", "/accounts/api/mail/test", nil); r.Status != 409 || !strings.Contains(r.Detail(), "--smtp") {
		t.Errorf("test email with mail off: %d %s", r.Status, r.Body)
	}

	st := startSMTP(t, false, "")
	ts := mailServer(t, st, false, "")
	c := ts.client()
	c.must(201, "POST", "/accounts/api/signup", map[string]string{"username": "acme", "password": "correct horse battery", "email": "owner@acme.example"})
	r := c.must(200, "GET", "/accounts/api/mail", nil)
	if r.JSON["enabled"] != true || r.JSON["queued"] != float64(0) || r.JSON["last_failure"] != nil {
		t.Errorf("mail on, nothing sent: %s", r.Body)
	}
	c.must(202, "POST", "/accounts/api/mail/test", nil)
	got := st.waitReceived(1, 10*time.Second, 0)
	if len(got[0].To) != 1 || got[0].To[0] != "owner@acme.example" || !bytes.Contains(got[0].Data, []byte("Subject: livechat test email")) {
		t.Errorf("test email: to %v\n%s", got[0].To, got[0].Data)
	}
	again := c.do("POST", "/accounts/api/mail/test", nil)
	if again.Status != 429 || again.Header.Get("Retry-After") == "" {
		t.Errorf("second test email at once: %d Retry-After %q", again.Status, again.Header.Get("Retry-After"))
	}
	// A refused test email shows as the business's last failure.
	st.mu.Lock()
	st.rcptErr = &smtp.SMTPError{Code: 550, Message: "mailbox unavailable"}
	st.mu.Unlock()
	ts.clock.Advance(31 * time.Second)
	c.must(202, "POST", "/accounts/api/mail/test", nil)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r = c.must(200, "GET", "/accounts/api/mail", nil)
		if f, _ := r.JSON["last_failure"].(map[string]any); f != nil {
			if f["to"] != "owner@acme.example" || !strings.Contains(f["error"].(string), "550") {
				t.Errorf("last_failure %v", f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure shown: %s", r.Body)
		}
	}

	// No address on the account: nothing to send to.
	bare := ts.client()
	bare.signup("noemail", "correct horse battery")
	if r := bare.do("POST", "/accounts/api/mail/test", nil); r.Status != 400 {
		t.Errorf("account without email: %d %s", r.Status, r.Body)
	}
}
