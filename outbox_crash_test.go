package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The outbox across a crash: a server process killed with SIGKILL in the
// middle of sending (the child-process tests here and in notifier_test.go).

// TestMailSIGKILLMidSend: a server process killed with SIGKILL while the
// SMTP server holds its DATA (so it never got the 250) loses nothing: the
// next start sends the mail, once.
func TestMailSIGKILLMidSend(t *testing.T) {
	if os.Getenv("LIVECHAT_OUTBOX_CHILD") != "" {
		t.Skip("in the child")
	}
	st := startSMTP(t, false, "")
	path := killChildMidSend(t, st, "TestOutboxChildProcess", "LIVECHAT_OUTBOX_CHILD")
	ts := mailServer(t, st, false, path)
	st.waitReceived(1, 10*time.Second, 300*time.Millisecond)
	ts.Close()
}

// TestOutboxChildProcess is TestMailSIGKILLMidSend's server process: it
// queues one mail and sends it to the parent's SMTP server, which holds it
// until the parent kills this process.
func TestOutboxChildProcess(t *testing.T) {
	if os.Getenv("LIVECHAT_OUTBOX_CHILD") == "" {
		t.Skip("run by TestMailSIGKILLMidSend")
	}
	pemData, err := os.ReadFile(os.Getenv("CHILD_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	ts := newTestServerAt(t, os.Getenv("CHILD_DB"), func(c *Config) {
		c.SMTP = os.Getenv("CHILD_SMTP")
		c.SMTPFrom = "Acme Support <support@acme.example>"
	})
	tuneOutbox(ts.Server.outbox, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	enqueue(t, ts, sampleMail(1))
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}

// killChildMidSend runs the test childTest in a child process (the test
// binary again, with envFlag=1) over a fresh database whose mail goes to
// st, holds the child's first SMTP DATA, SIGKILLs the child there (so it
// never saw the 250), releases st, checks nothing was recorded, and
// returns the database file for the next start.
func killChildMidSend(t *testing.T, st *smtpTestServer, childTest, envFlag string) string {
	t.Helper()
	st.hold = make(chan struct{})
	dir := t.TempDir()
	path := filepath.Join(dir, "livechat.db")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, st.caPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.v")
	cmd.Env = append(os.Environ(), envFlag+"=1", "CHILD_DB="+path, "CHILD_SMTP="+st.URL(false), "CHILD_CA="+caFile)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.reading:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the child never sent its DATA:\n%s", out.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	close(st.hold)
	st.mu.Lock()
	st.hold = nil
	st.mu.Unlock()
	if n := len(st.Received()); n != 0 {
		t.Fatalf("%d mails recorded before the restart", n)
	}
	return path
}
