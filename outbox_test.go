package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpTestServer is a real SMTP server (github.com/emersion/go-smtp) on a
// loopback port, with STARTTLS or implicit TLS under a certificate made
// for the test, PLAIN auth, and a record of every message it accepted.
type smtpTestServer struct {
	t      *testing.T
	Addr   string
	Client *tls.Config // trusts the server's certificate
	srv    *smtp.Server
	ln     net.Listener

	user, pass string
	ca         []byte // the certificate, PEM

	mu       sync.Mutex
	received []smtpReceived
	attempts int // DATA commands seen
	authed   []string
	// refuse, when set, answers the n-th DATA (from 1) with its error.
	refuse func(n int) error
	// rcptErr, when set, refuses every recipient.
	rcptErr error
	// hold, when set, is waited on after a message was read and before
	// it is answered.
	hold chan struct{}
	// reading is signalled when a DATA has been read (before hold).
	reading chan struct{}
}

type smtpReceived struct {
	From string
	To   []string
	Data []byte
}

// testCert makes a self-signed certificate for 127.0.0.1 and the pool
// that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "livechat test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// startSMTP starts the server on addr ("" for any free port).
func startSMTP(t *testing.T, implicitTLS bool, addr string) *smtpTestServer {
	t.Helper()
	cert, pool, caPEM := testCert(t)
	st := &smtpTestServer{t: t, user: "alice", pass: "s3cret!pw", reading: make(chan struct{}, 16), ca: caPEM}
	st.Client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	st.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpTestSession{st: st}, nil }))
	st.srv.Domain = "mx.test"
	st.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	st.srv.ErrorLog = nopSMTPLog{}
	st.srv.ReadTimeout = 10 * time.Second
	st.srv.WriteTimeout = 10 * time.Second
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		ln = tls.NewListener(ln, st.srv.TLSConfig)
	}
	st.ln = ln
	st.Addr = ln.Addr().String()
	go st.srv.Serve(ln)
	t.Cleanup(st.Close)
	return st
}

func (st *smtpTestServer) Close() { st.srv.Close() }

func (st *smtpTestServer) caPEM() []byte { return st.ca }

// URL is the --smtp value for this server.
func (st *smtpTestServer) URL(implicitTLS bool) string {
	scheme := "smtp"
	if implicitTLS {
		scheme = "smtps"
	}
	return fmt.Sprintf("%s://%s:%s@%s", scheme, st.user, "s3cret%21pw", st.Addr)
}

func (st *smtpTestServer) Received() []smtpReceived {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]smtpReceived(nil), st.received...)
}

func (st *smtpTestServer) Attempts() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.attempts
}

// waitReceived waits until n messages arrived, then fails if more do
// within settle (nothing sent twice).
func (st *smtpTestServer) waitReceived(n int, within, settle time.Duration) []smtpReceived {
	st.t.Helper()
	deadline := time.Now().Add(within)
	for len(st.Received()) < n {
		if time.Now().After(deadline) {
			st.t.Fatalf("SMTP server got %d messages in %s, want %d (DATA attempts: %d)", len(st.Received()), within, n, st.Attempts())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(settle)
	got := st.Received()
	if len(got) != n {
		st.t.Fatalf("SMTP server got %d messages, want exactly %d", len(got), n)
	}
	return got
}

type nopSMTPLog struct{}

func (nopSMTPLog) Printf(string, ...any) {}
func (nopSMTPLog) Println(...any)        {}

type smtpTestSession struct {
	st   *smtpTestServer
	from string
	to   []string
}

func (s *smtpTestSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpTestSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.st.user || password != s.st.pass {
			return errors.New("bad credentials")
		}
		s.st.mu.Lock()
		s.st.authed = append(s.st.authed, username)
		s.st.mu.Unlock()
		return nil
	}), nil
}

func (s *smtpTestSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *smtpTestSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.st.mu.Lock()
	err := s.st.rcptErr
	s.st.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpTestSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	st := s.st
	st.mu.Lock()
	st.attempts++
	n, refuse, hold := st.attempts, st.refuse, st.hold
	st.mu.Unlock()
	select {
	case st.reading <- struct{}{}:
	default:
	}
	if hold != nil {
		<-hold
		return &smtp.SMTPError{Code: 451, Message: "held by the test"}
	}
	if refuse != nil {
		if err := refuse(n); err != nil {
			return err
		}
	}
	st.mu.Lock()
	st.received = append(st.received, smtpReceived{From: s.from, To: s.to, Data: data})
	st.mu.Unlock()
	return nil
}

func (s *smtpTestSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpTestSession) Logout() error { return nil }

// mailServer starts a livechat test server whose mail goes to st, with
// the outbox's retry timing shortened for tests.
func mailServer(t *testing.T, st *smtpTestServer, implicitTLS bool, path string) *testServer {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "livechat.db")
	}
	ts := newTestServerAt(t, path, func(c *Config) {
		c.SMTP = st.URL(implicitTLS)
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.PublicURL = "https://chat.acme.example"
	})
	if !ts.Server.MailEnabled() {
		t.Fatal("mail not enabled with --smtp set")
	}
	tuneOutbox(ts.Server.outbox, st.Client)
	return ts
}

// tuneOutbox restarts the sender trusting the test certificate, with
// short retry delays.
func tuneOutbox(o *Outbox, client *tls.Config) {
	o.Stop()
	o.mailer.tlsConfig = client
	o.mailer.timeout = 5 * time.Second
	o.backoff = 20 * time.Millisecond
	o.maxBackoff = 100 * time.Millisecond
	o.poll = 50 * time.Millisecond
	o.Start()
}

// enqueue queues m in its own transaction, as an event's would.
func enqueue(t *testing.T, ts *testServer, m Mail) {
	t.Helper()
	err := ts.DB.inTx(context.Background(), func(tx *sql.Tx) error {
		return ts.Server.outbox.Enqueue(context.Background(), tx, m)
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

func sampleMail(userID int64) Mail {
	return Mail{
		UserID:      userID,
		To:          "Vera Visitor <vera@visitor.example>",
		ReplyTo:     "owner@acme.example",
		Subject:     "Acme answered you",
		Paragraphs:  []string{"Acme Support wrote:", "<script>alert(1)</script> Fish & chips\nsecond line"},
		Link:        "https://chat.acme.example/chatbot/acme/vera",
		LinkText:    "Open the conversation",
		Unsubscribe: "https://chat.acme.example/unsubscribe/tok123",
	}
}

// mimeParts reads a multipart/alternative message into type → decoded body.
func mimeParts(t *testing.T, msg *mail.Message) map[string]string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// multipart.Reader decodes quoted-printable itself.
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	return parts
}

// TestMailArrives: a queued mail reaches a real SMTP server over STARTTLS
// (smtp://) and implicit TLS (smtps://), authenticated, with the right
// headers and a text and an escaped HTML part.
func TestMailArrives(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("implicitTLS=%v", implicit), func(t *testing.T) {
			st := startSMTP(t, implicit, "")
			ts := mailServer(t, st, implicit, "")
			before := time.Now().Add(-time.Second)
			m := sampleMail(7)
			enqueue(t, ts, m)
			got := st.waitReceived(1, 10*time.Second, 100*time.Millisecond)[0]

			if got.From != "support@acme.example" || len(got.To) != 1 || got.To[0] != "vera@visitor.example" {
				t.Errorf("envelope from %q to %v", got.From, got.To)
			}
			if len(st.authed) != 1 || st.authed[0] != "alice" {
				t.Errorf("SMTP AUTH: %v, want one PLAIN login as alice", st.authed)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Header
			checks := map[string]string{
				"From":                  `"Acme Support" <support@acme.example>`,
				"To":                    `"Vera Visitor" <vera@visitor.example>`,
				"Reply-To":              "<owner@acme.example>",
				"Subject":               "Acme answered you",
				"List-Unsubscribe":      "<https://chat.acme.example/unsubscribe/tok123>",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
				"Auto-Submitted":        "auto-generated",
				"Mime-Version":          "1.0",
			}
			for k, want := range checks {
				if v := h.Get(k); v != want {
					t.Errorf("%s: %q, want %q", k, v, want)
				}
			}
			date, err := h.Date()
			if err != nil || date.Before(before.Truncate(time.Second)) || date.After(time.Now()) {
				t.Errorf("Date %q (%v): not the time of queueing", h.Get("Date"), err)
			}
			if !regexp.MustCompile(`^<[0-9a-f]{32}@acme\.example>$`).MatchString(h.Get("Message-Id")) {
				t.Errorf("Message-ID %q", h.Get("Message-Id"))
			}
			parts := mimeParts(t, msg)
			text, html := parts["text/plain"], parts["text/html"]
			for _, want := range []string{"Acme Support wrote:", "<script>alert(1)</script> Fish & chips\nsecond line", "Open the conversation: https://chat.acme.example/chatbot/acme/vera", "https://chat.acme.example/unsubscribe/tok123"} {
				if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), want) {
					t.Errorf("text part lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; Fish &amp; chips") {
				t.Errorf("HTML part does not escape the visitor's text:\n%s", html)
			}
			if !strings.Contains(html, `href="https://chat.acme.example/chatbot/acme/vera"`) || !strings.Contains(html, "Open the conversation</a>") {
				t.Errorf("HTML part lacks the link:\n%s", html)
			}

			st2, err := ts.Server.outbox.Status(context.Background(), 7)
			if err != nil || !st2.Enabled || st2.Queued != 0 || st2.LastSent == "" || st2.LastError != "" || st2.LastFailure != nil {
				t.Errorf("status after sending: %+v (%v)", st2, err)
			}
		})
	}
}

// TestMailRetriesUntilAccepted: an SMTP server that answers 451 to the
// first tries, and one that is down for a while, get the mail exactly once
// when they come back.
func TestMailRetriesUntilAccepted(t *testing.T) {
	t.Run("451", func(t *testing.T) {
		st := startSMTP(t, false, "")
		st.refuse = func(n int) error {
			if n <= 3 {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
			}
			return nil
		}
		ts := mailServer(t, st, false, "")
		enqueue(t, ts, sampleMail(1))
		st.waitReceived(1, 10*time.Second, 300*time.Millisecond)
		if n := st.Attempts(); n != 4 {
			t.Errorf("DATA attempts %d, want 4 (three refused, one accepted)", n)
		}
		if f, _ := ts.DB.LastMailFailure(context.Background(), 1); f != nil {
			t.Errorf("a temporary refusal was recorded as a failure: %+v", f)
		}
	})
	t.Run("down", func(t *testing.T) {
		// Take a free port, and keep it closed while the mail is queued.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		down := &smtpTestServer{user: "alice", Addr: addr}
		_, pool, _ := testCert(t)
		ts := mailServer(t, down, false, "")
		tuneOutbox(ts.Server.outbox, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		enqueue(t, ts, sampleMail(1))
		// Failing tries show in the status, and the mail stays queued.
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, _ := ts.Server.outbox.Status(context.Background(), 1)
			if s.LastError != "" && s.Queued == 1 {
				if strings.Contains(s.LastError, "s3cret") {
					t.Errorf("status error shows the SMTP password: %s", s.LastError)
				}
				if other, _ := ts.Server.outbox.Status(context.Background(), 2); other.LastError != "" || other.Queued != 1 {
					t.Errorf("another business's status: %+v (sees the error of mail it did not cause)", other)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed try reported while the server is down: %+v", s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		st := startSMTP(t, false, addr)
		tuneOutbox(ts.Server.outbox, st.Client)
		st.waitReceived(1, 10*time.Second, 300*time.Millisecond)
		s, _ := ts.Server.outbox.Status(context.Background(), 1)
		if s.Queued != 0 || s.LastError != "" {
			t.Errorf("status after delivery: %+v", s)
		}
	})
}

// TestMailPermanentFailure: a 5xx is not retried; it is recorded for the
// business whose event caused the mail, and the queue is empty.
func TestMailPermanentFailure(t *testing.T) {
	st := startSMTP(t, false, "")
	st.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	ts := mailServer(t, st, false, "")
	ctx := context.Background()
	if f, err := ts.DB.LastMailFailure(ctx, 42); f != nil || err != nil {
		t.Fatalf("failure before any mail: %+v %v", f, err)
	}
	enqueue(t, ts, sampleMail(42))
	var f *MailFailure
	for deadline := time.Now().Add(10 * time.Second); f == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no failure recorded")
		}
		time.Sleep(20 * time.Millisecond)
		f, _ = ts.DB.LastMailFailure(ctx, 42)
	}
	if f.To != "Vera Visitor <vera@visitor.example>" || f.Subject != "Acme answered you" || !strings.Contains(f.Error, "550") || f.At == "" {
		t.Errorf("failure %+v", f)
	}
	time.Sleep(200 * time.Millisecond) // retries would happen here
	s, err := ts.Server.outbox.Status(ctx, 42)
	if err != nil || s.Queued != 0 || s.LastFailure == nil {
		t.Errorf("status %+v (%v)", s, err)
	}
	if other, _ := ts.DB.LastMailFailure(ctx, 43); other != nil {
		t.Errorf("another business sees the failure: %+v", other)
	}
	if len(st.Received()) != 0 {
		t.Error("a refused mail arrived")
	}
}

// TestMailGivesUpAfterADay: a server that keeps answering 451 makes the
// mail a recorded failure once it is 24 h old (the clock moved on).
func TestMailGivesUpAfterADay(t *testing.T) {
	st := startSMTP(t, false, "")
	st.refuse = func(int) error { return &smtp.SMTPError{Code: 421, Message: "busy"} }
	ts := mailServer(t, st, false, "")
	ctx := context.Background()
	enqueue(t, ts, sampleMail(5))
	for deadline := time.Now().Add(5 * time.Second); st.Attempts() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("no retries")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if f, _ := ts.DB.LastMailFailure(ctx, 5); f != nil {
		t.Fatalf("gave up early: %+v", f)
	}
	ts.clock.Advance(24*time.Hour + time.Minute)
	var f *MailFailure
	for deadline := time.Now().Add(5 * time.Second); f == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no failure recorded after 24 h")
		}
		time.Sleep(20 * time.Millisecond)
		f, _ = ts.DB.LastMailFailure(ctx, 5)
	}
	if !strings.Contains(f.Error, "gave up after") || !strings.Contains(f.Error, "421") {
		t.Errorf("failure %+v", f)
	}
}

// TestMailSurvivesRestart: a mail queued by a server that stops before
// sending it (its database closed with the mail in it) is sent exactly
// once by the next start.
func TestMailSurvivesRestart(t *testing.T) {
	st := startSMTP(t, false, "")
	path := filepath.Join(t.TempDir(), "livechat.db")
	ts := mailServer(t, st, false, path)
	ts.Server.outbox.Stop() // the sender never runs: as if killed
	enqueue(t, ts, sampleMail(1))
	ts.Close()
	if n := len(st.Received()); n != 0 {
		t.Fatalf("sent before the restart: %d", n)
	}
	ts2 := mailServer(t, st, false, path)
	got := st.waitReceived(1, 10*time.Second, 300*time.Millisecond)
	if !bytes.Contains(got[0].Data, []byte("Subject: Acme answered you")) {
		t.Errorf("another mail arrived:\n%s", got[0].Data)
	}
	ts2.Close()
	ts3 := mailServer(t, st, false, path)
	time.Sleep(300 * time.Millisecond)
	if n := len(st.Received()); n != 1 {
		t.Errorf("after a second restart %d mails arrived in all, want 1", n)
	}
	_ = ts3
}

// TestMailStopCutsOffAHungServer: a mail server that never answers the
// DATA does not hold up a shutdown beyond the grace period, and the mail
// it never accepted is sent, once, after the restart.
func TestMailStopCutsOffAHungServer(t *testing.T) {
	st := startSMTP(t, false, "")
	st.hold = make(chan struct{})
	path := filepath.Join(t.TempDir(), "livechat.db")
	ts := mailServer(t, st, false, path)
	ts.Server.outbox.stopGrace = 200 * time.Millisecond
	enqueue(t, ts, sampleMail(1))
	select {
	case <-st.reading:
	case <-time.After(10 * time.Second):
		t.Fatal("the mail never reached DATA")
	}
	start := time.Now()
	ts.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %s with a hung mail server", took)
	}
	st.mu.Lock()
	close(st.hold)
	st.hold = nil
	st.mu.Unlock()
	if n := len(st.Received()); n != 0 {
		t.Fatalf("%d mails recorded before the restart", n)
	}
	mailServer(t, st, false, path)
	st.waitReceived(1, 10*time.Second, 300*time.Millisecond)
}
