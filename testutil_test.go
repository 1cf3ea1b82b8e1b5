package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testConfig is DefaultConfig with a cheap bcrypt cost, so tests that sign
// up many accounts stay fast.
func testConfig() Config {
	c := DefaultConfig()
	c.BcryptCost = bcrypt.MinCost
	return c
}

// testServer is a real server over a real SQLite file in a temp dir. It
// is the one harness: the chat tests (chatTestServer) and the browser
// tests (pagesApp) wrap it.
type testServer struct {
	t      testing.TB
	URL    string
	Path   string // the database file
	DB     *DB
	Server *Server
	HTTP   *httptest.Server
	clock  *testClock
	once   sync.Once
}

// testClock is the db's and the login throttle's clock: real time plus an
// offset that tests move forward.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// newTestServer starts a server on a fresh database file. Options may
// change the config before the server is built.
func newTestServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	return startTestServer(t, filepath.Join(t.TempDir(), "livechat.db"), "", opts...)
}

// startTestServer starts a server on the given database file, listening on
// addr (empty: any free port); the server and database are closed at the
// end of the test (or by Close). With -v the server's warnings go to the
// test log.
func startTestServer(t testing.TB, path, addr string, opts ...func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig()
	cfg.DBPath = path
	for _, o := range opts {
		o(&cfg)
	}
	db, err := OpenDB(context.Background(), path, cfg.Synchronous)
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	clock := &testClock{}
	db.now = clock.Now
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := NewServer(cfg, db, logger)
	hs := httptest.NewUnstartedServer(srv.Handler())
	if addr != "" {
		// Restarting on the same address: the old port may linger a moment.
		var ln net.Listener
		for i := 0; ; i++ {
			if ln, err = net.Listen("tcp", addr); err == nil || i > 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	ts := &testServer{t: t, URL: hs.URL, Path: path, DB: db, Server: srv, HTTP: hs, clock: clock}
	t.Cleanup(ts.Close)
	return ts
}

// Close shuts the server down the way run does: sockets (1001), the HTTP
// server, the message writer, then the database. Safe to call twice.
func (ts *testServer) Close() {
	ts.once.Do(func() {
		ts.Server.CloseSockets()
		ts.HTTP.CloseClientConnections()
		ts.HTTP.Close()
		ts.Server.Close()
		if err := ts.DB.Close(); err != nil {
			ts.t.Errorf("close db: %v", err)
		}
	})
}

// testWriter sends log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testClient is one browser: a cookie jar against a test server.
type testClient struct {
	t    testing.TB
	base string
	HTTP *http.Client
}

func (ts *testServer) client() *testClient {
	jar, _ := cookiejar.New(nil)
	return &testClient{t: ts.t, base: ts.URL, HTTP: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// response is a finished request: status, headers, raw body and, when the
// body is a JSON object, its decoded form.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// Detail is the error sentence of a JSON error body.
func (r *response) Detail() string { s, _ := r.JSON["detail"].(string); return s }

// FieldError is what the body's "errors" says of one field.
func (r *response) FieldError(field string) string {
	errs, _ := r.JSON["errors"].(map[string]any)
	s, _ := errs[field].(string)
	return s
}

// do sends a request. A body that is not an io.Reader or string is sent
// as JSON. Extra headers come in pairs.
func (c *testClient) do(method, path string, body any, headers ...string) *response {
	c.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	case string:
		rd = strings.NewReader(b)
		ctype = "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		ctype = "application/json"
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.JSON); err != nil {
			c.t.Fatalf("%s %s: body is not a JSON object: %v: %q", method, path, err, raw)
		}
	}
	return r
}

// must sends a request and fails the test unless the status is want.
func (c *testClient) must(want int, method, path string, body any, headers ...string) *response {
	c.t.Helper()
	r := c.do(method, path, body, headers...)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// signup creates an account and leaves the client signed in.
func (c *testClient) signup(username, password string) *response {
	c.t.Helper()
	return c.must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": username, "password": password})
}

// multipartBody builds a multipart form with one file field and extra
// plain fields (name, value pairs).
func multipartBody(t testing.TB, field, filename string, data []byte, fields ...string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	fw, err := mw.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}
