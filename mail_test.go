package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"log/slog"
	"net/mail"
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
	bare.signup("noemail")
	if r := bare.do("POST", "/accounts/api/mail/test", nil); r.Status != 400 {
		t.Errorf("account without email: %d %s", r.Status, r.Body)
	}
}

// TestNotificationMails: the agent's and the visitor's emails, built from
// user text (a business name with a line break, a visitor's HTML), pass
// checkMail, arrive, and say what they should.
func TestNotificationMails(t *testing.T) {
	st := startSMTP(t, false, "")
	ts := mailServer(t, st, false, "")
	base := "https://chat.acme.example"
	at := time.Date(2026, 6, 10, 14, 5, 0, 0, time.UTC)
	msgs := []quotedMessage{
		{Author: "Visitor", Content: "Is the <b>Trail 29</b> in stock?", At: at},
		{Author: "Visitor", Content: "", File: "photo\r\n.jpg", At: at.Add(time.Minute)},
	}
	agent := agentNotifyMail(base, 3, "agent@acme.example", "Nordic\r\nBikes", "e3b0c442+x", "vera@visitor.example", msgs)
	visitor := visitorReplyMail(base, 3, "nordic", "Nordic\nBikes", "owner@acme.example", "e3b0c442+x", "vera@visitor.example",
		base+"/unsubscribe/tok", []quotedMessage{{Author: "Nordic Bikes", Content: "Yes, size L too.", At: at}})
	if agent.Subject != "2 new messages from vera@visitor.example on Nordic Bikes" || agent.Link != base+"/messages#c=e3b0c442+x" || agent.ReplyTo != "vera@visitor.example" {
		t.Errorf("agent mail %+v", agent)
	}
	if visitor.Subject != "Nordic Bikes answered you" || visitor.Link != base+"/chatbot/nordic/e3b0c442+x" || visitor.Unsubscribe != base+"/unsubscribe/tok" || visitor.ReplyTo != "owner@acme.example" {
		t.Errorf("visitor mail %+v", visitor)
	}
	anon := agentNotifyMail(base, 3, "agent@acme.example", "Nordic Bikes", "c1", "", msgs[:1])
	if anon.Subject != "New message from A visitor on Nordic Bikes" || anon.ReplyTo != "" {
		t.Errorf("anonymous visitor: %+v", anon)
	}
	enqueue(t, ts, agent)
	enqueue(t, ts, visitor)
	got := st.waitReceived(2, 10*time.Second, 100*time.Millisecond)
	byTo := map[string]smtpReceived{}
	for _, g := range got {
		byTo[g.To[0]] = g
	}
	for to, c := range map[string]struct {
		subject, unsub string
		text, html     []string
	}{
		"agent@acme.example": {
			subject: "2 new messages from vera@visitor.example on Nordic Bikes",
			text:    []string{"Visitor, 10 Jun 14:05 UTC:\nIs the <b>Trail 29</b> in stock?", "[file: photo .jpg]", "Answer in your inbox: https://chat.acme.example/messages#c=e3b0c442+x"},
			html:    []string{"Is the &lt;b&gt;Trail 29&lt;/b&gt; in stock?", `href="https://chat.acme.example/messages#c=e3b0c442&#43;x"`},
		},
		"vera@visitor.example": {
			subject: "Nordic Bikes answered you",
			unsub:   "<https://chat.acme.example/unsubscribe/tok>",
			text:    []string{"Nordic Bikes answered your message:", "Yes, size L too.", "Open the conversation: https://chat.acme.example/chatbot/nordic/e3b0c442+x"},
			html:    []string{"Yes, size L too."},
		},
	} {
		msg, err := mail.ReadMessage(bytes.NewReader(byTo[to].Data))
		if err != nil {
			t.Fatalf("mail to %s: %v", to, err)
		}
		if got := msg.Header.Get("Subject"); got != c.subject {
			t.Errorf("mail to %s: Subject %q, want %q", to, got, c.subject)
		}
		if got := msg.Header.Get("List-Unsubscribe"); got != c.unsub {
			t.Errorf("mail to %s: List-Unsubscribe %q, want %q", to, got, c.unsub)
		}
		parts := mimeParts(t, msg)
		text := strings.ReplaceAll(parts["text/plain"], "\r\n", "\n")
		for _, w := range c.text {
			if !strings.Contains(text, w) {
				t.Errorf("mail to %s: text lacks %q:\n%s", to, w, text)
			}
		}
		for _, w := range c.html {
			if !strings.Contains(parts["text/html"], w) {
				t.Errorf("mail to %s: HTML lacks %q:\n%s", to, w, parts["text/html"])
			}
		}
		if strings.Contains(parts["text/html"], "<b>") {
			t.Errorf("mail to %s: the visitor's HTML is not escaped", to)
		}
	}
}
