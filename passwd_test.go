package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/term"
)

// TestPasswdCommand: "livechat passwd" beside a running server sets the
// password from stdin, signs the account out there, and the new password
// signs in while the old one does not. Bad input changes nothing.
func TestPasswdCommand(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	c.signup("acme")
	c.must(200, "GET", "/accounts/api/me", nil)
	env := func(string) string { return "" }
	passwd := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := passwdCommand(context.Background(), append([]string{"--db", ts.Path, "--bcrypt-cost", "4"}, args...), env, strings.NewReader(stdin), &out, io.Discard)
		return out.String(), err
	}

	// Refusals first: each leaves the old password working.
	if _, err := passwd("short\n", "acme"); err == nil || !strings.Contains(err.Error(), "at least 8") {
		t.Errorf("short password: %v", err)
	}
	if _, err := passwd("", "acme"); err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("empty stdin: %v", err)
	}
	if _, err := passwd("battery staple\n", "nobody"); err == nil || !strings.Contains(err.Error(), `no account named "nobody"`) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := passwd("battery staple\n"); err == nil {
		t.Error("no username accepted")
	}
	c.must(200, "GET", "/accounts/api/me", nil)

	out, err := passwd("battery staple\r\n", "ACME")
	if err != nil {
		t.Fatalf("passwd: %v", err)
	}
	if !strings.Contains(out, "acme") {
		t.Errorf("output %q", out)
	}
	// The running server's session for the old password has ended.
	c.must(401, "GET", "/accounts/api/me", nil)
	other := ts.client()
	other.must(401, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "correct horse"})
	other.must(200, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "battery staple"})
	other.must(200, "GET", "/accounts/api/me", nil)

	// Dispatched from the command line; a test's stdin holds no password
	// (unless the test runs at a terminal, where it would wait for one).
	if term.IsTerminal(int(os.Stdin.Fd())) {
		return
	}
	err = run(context.Background(), []string{"passwd", "--db", ts.Path, "acme"}, env, io.Discard, io.Discard, nil)
	if err == nil {
		t.Error("passwd with nothing on stdin succeeded")
	}
	other.must(200, "GET", "/accounts/api/me", nil)
}
