package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to write from the server goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runMain starts run() as the real program would, on 127.0.0.1:0, and
// returns its address and a stop function that waits for it to return.
func runMain(t *testing.T, args ...string) (addr string, stdout *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0", "--bcrypt-cost", "4"}, args...), func(string) string { return "" }, stdout, io.Discard, ready)
	}()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return addr, stdout, stop
}

// TestRunServesAndStops runs the program, checks it prints its URL and
// answers /healthz, then stops it as SIGINT would and checks run returns
// cleanly and the database closed (its WAL checkpointed away).
func TestRunServesAndStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	addr, stdout, stop := runMain(t, "--db", path)
	if out := stdout.String(); !strings.Contains(out, "http://"+addr) {
		t.Errorf("stdout %q does not name the URL http://%s", out, addr)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v after a clean stop", err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Errorf("WAL file still there after shutdown (err=%v): database not closed cleanly", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after stop")
	}
}

// TestRunClearErrors: a taken address and a file that is not a livechat
// database give one-line errors, not panics.
func TestRunClearErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	err = run(context.Background(), []string{"--addr", ln.Addr().String(), "--db", filepath.Join(dir, "a.db")}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Errorf("taken address: err=%v", err)
	}

	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("hello"), 0o644)
	err = run(context.Background(), []string{"--addr", "127.0.0.1:0", "--db", notes}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "not a livechat database") {
		t.Errorf("foreign file: err=%v", err)
	}

	err = run(context.Background(), []string{"--no-such-flag"}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil {
		t.Error("unknown flag accepted")
	}
}

// TestDBFromEnvironment: LIVECHAT_DB sets the database file, --db wins.
func TestDBFromEnvironment(t *testing.T) {
	env := map[string]string{"LIVECHAT_DB": "/data/chat.db"}
	cfg, err := parseFlags(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.DBPath != "/data/chat.db" {
		t.Errorf("env: DBPath=%q err=%v", cfg.DBPath, err)
	}
	cfg, err = parseFlags([]string{"--db", "x.db"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.DBPath != "x.db" {
		t.Errorf("flag: DBPath=%q err=%v", cfg.DBPath, err)
	}
	cfg, _ = parseFlags(nil, func(string) string { return "" }, io.Discard)
	if cfg.Addr != "127.0.0.1:8000" || cfg.DBPath != "./livechat.db" {
		t.Errorf("defaults: %q %q", cfg.Addr, cfg.DBPath)
	}
}

// TestSessionsSurviveRestart signs up on one run of the program, stops it,
// starts it again on the same file, and is still signed in.
func TestSessionsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	addr, _, stop := runMain(t, "--db", path)
	c := (&testServer{t: t, URL: "http://" + addr}).client()
	c.signup("acme")
	c.must(200, "GET", "/accounts/api/me", nil)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	addr2, _, _ := runMain(t, "--db", path)
	c.base = "http://" + addr2
	// The cookie jar keys cookies by host; carry the cookie to the new port.
	u1, _ := http.NewRequest("GET", "http://"+addr, nil)
	u2, _ := http.NewRequest("GET", "http://"+addr2, nil)
	c.HTTP.Jar.SetCookies(u2.URL, c.HTTP.Jar.Cookies(u1.URL))
	r := c.must(200, "GET", "/accounts/api/me", nil)
	if u, _ := r.JSON["user"].(map[string]any); u["username"] != "acme" {
		t.Errorf("me after restart: %s", r.Body)
	}
}

// TestREADMEListsEveryFlag: every flag in --help is in README's
// configuration tables, so an operator finds each limit, its default and
// why (issue 12 asks for this of the limit flags).
func TestREADMEListsEveryFlag(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(help.String(), -1)
	if len(flags) < 30 {
		t.Fatalf("found only %d flags in --help:\n%s", len(flags), help.String())
	}
	for _, f := range flags {
		if !bytes.Contains(readme, []byte("`--"+f[1]+"`")) {
			t.Errorf("README does not list --%s", f[1])
		}
	}
}
