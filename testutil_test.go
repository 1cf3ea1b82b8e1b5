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
// up many accounts stay fast, and the per-address limits lifted: every
// test client is 127.0.0.1, and tests that open many rooms, sockets or
// uploads are not about those limits (ws_limits_test.go and
// uploads_test.go test them, at their defaults too).
func testConfig() Config {
	c := DefaultConfig()
	c.BcryptCost = bcrypt.MinCost
	c.RoomsPerAddress = 0
	c.SocketsPerAddress = 0
	c.UploadsPerAddress = 0
	c.UploadsInFlight = 0
	c.MinFreeDisk = 0
	// Most tests sign up several businesses; the signup policies have
	// their own tests (team_test.go).
	c.Signup = signupOpen
	return c
}

// testServer is the one test harness: a real server over a real SQLite
// file in a temp dir, on a real port. Every test starts one with
// newTestServer; the socket helpers (ws_helpers_test.go) and the browser
// tests (browser_helpers_test.go) use it as it is.
type testServer struct {
	t       testing.TB
	opts    []func(*Config)
	URL     string // http://127.0.0.1:port; the same after a restart
	Path    string // the database file
	Config  Config // the config the server runs with
	DB      *DB
	Server  *Server
	HTTP    *httptest.Server
	clock   *testClock
	running bool
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

// chatConfig is the option most socket tests start with: the message
// rate limit lifted (most tests are not about it) and slow pings (clients
// that stop reading must not be dropped mid-test).
func chatConfig(c *Config) {
	c.RateMessages = 0
	c.PingInterval = time.Minute
}

// noMessageRate lifts the message rate limit only (the browser tests).
func noMessageRate(c *Config) { c.RateMessages = 0 }

// newTestServer starts a server on a fresh database file; options change
// the config, in order, before the server is built. The server and the
// database are closed at the end of the test (or earlier by Close). With
// -v the server's warnings go to the test log.
func newTestServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	return newTestServerAt(t, filepath.Join(t.TempDir(), "livechat.db"), opts...)
}

// newTestServerAt is newTestServer over a given database file, for tests
// that reopen a file another server (or process) wrote.
func newTestServerAt(t testing.TB, path string, opts ...func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{t: t, opts: opts, Path: path, clock: &testClock{}}
	ts.start()
	t.Cleanup(ts.Close)
	return ts
}

// start starts the server over ts.Path. After Close it starts it again
// on the same address, over the same database file.
func (ts *testServer) start() {
	ts.t.Helper()
	cfg := testConfig()
	cfg.DBPath = ts.Path
	for _, o := range ts.opts {
		o(&cfg)
	}
	db, err := OpenDB(context.Background(), ts.Path, cfg.Synchronous)
	if err != nil {
		ts.t.Fatalf("OpenDB: %v", err)
	}
	db.now = ts.clock.Now
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{ts.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := NewServer(cfg, db, logger)
	hs := httptest.NewUnstartedServer(srv.Handler())
	if ts.HTTP != nil {
		// Restarting on the same address: the old port may linger a moment.
		addr := ts.HTTP.Listener.Addr().String()
		var ln net.Listener
		for i := 0; ; i++ {
			if ln, err = net.Listen("tcp", addr); err == nil || i > 50 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			ts.t.Fatal(err)
		}
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	ts.URL, ts.Config, ts.DB, ts.Server, ts.HTTP, ts.running = hs.URL, cfg, db, srv, hs, true
}

// Close shuts the server down the way run does: sockets (1001), the HTTP
// server, the message writer, then the database. Safe to call twice.
func (ts *testServer) Close() {
	if !ts.running {
		return
	}
	ts.running = false
	ts.Server.CloseSockets()
	ts.HTTP.CloseClientConnections()
	ts.HTTP.Close()
	ts.Server.Close()
	if err := ts.DB.Close(); err != nil {
		ts.t.Errorf("close db: %v", err)
	}
}

// testWriter sends log lines to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testClient is one browser: a cookie jar against a test server. It does
// not follow redirects, so tests see them.
type testClient struct {
	t    testing.TB
	base string
	HTTP *http.Client
}

func (ts *testServer) client() *testClient {
	jar, _ := cookiejar.New(nil)
	return &testClient{t: ts.t, base: ts.URL, HTTP: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
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

// testPassword is the password of every account signup makes.
const testPassword = "correct horse"

// signup creates an account with testPassword and returns the client,
// now signed in to it. It is the tests' one way to sign up when signing
// up is not what they test.
func (c *testClient) signup(username string) *testClient {
	c.t.Helper()
	c.must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": username, "password": testPassword})
	return c
}

// getJSON does a GET (client nil: anonymous) and decodes the JSON answer.
func (ts *testServer) getJSON(client *testClient, path string, want int, dst any) *http.Response {
	ts.t.Helper()
	hc := http.DefaultClient
	if client != nil {
		hc = client.HTTP
	}
	resp, err := hc.Get(ts.URL + path)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		ts.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	if dst != nil {
		if err := json.Unmarshal(b, dst); err != nil {
			ts.t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return resp
}

// upload posts a chat file (client nil: anonymous).
func (ts *testServer) upload(client *testClient, room, name string, data []byte) (*http.Response, []byte) {
	ts.t.Helper()
	hc := http.DefaultClient
	if client != nil {
		hc = client.HTTP
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if room != "" {
		mw.WriteField("room", room)
	}
	if data != nil {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write(data)
	}
	mw.Close()
	resp, err := hc.Post(ts.URL+"/chatbot/message/file/upload", mw.FormDataContentType(), &buf)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// waitFor polls cond until it holds (something the test waits to happen,
// not a proof that nothing happened).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
