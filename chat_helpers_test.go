package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// chatEnv is the test server (testServer) as the chat tests use it.
type chatEnv struct {
	t      testing.TB
	cfg    Config
	db     *DB
	srv    *Server
	ts     *httptest.Server
	server *testServer
}

// chatTestServer starts a server with the message rate limit lifted (most
// tests are not about it) and slow pings; edit changes the config before
// the server starts.
func chatTestServer(t testing.TB, edit func(*Config)) *chatEnv {
	t.Helper()
	ts := newTestServer(t, func(c *Config) {
		c.RateMessages = 0
		c.PingInterval = time.Minute // clients that stop reading must not be dropped mid-test
		if edit != nil {
			edit(c)
		}
	})
	return &chatEnv{t: t, cfg: ts.Server.cfg, db: ts.DB, srv: ts.Server, ts: ts.HTTP, server: ts}
}

// close shuts the server down (see testServer.Close).
func (e *chatEnv) close() { e.server.Close() }

// wsURL turns a path into a ws:// URL of the test server.
func (e *chatEnv) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(e.ts.URL, "http") + path
}

// chatSignup creates an account and returns a client signed in to it.
func (e *chatEnv) chatSignup(username string) *http.Client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body := `{"username":"` + username + `","password":"password123"}`
	resp, err := c.Post(e.ts.URL+"/accounts/api/signup", "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("signup %s: status %d", username, resp.StatusCode)
	}
	return c
}

// wsClient is a test websocket client.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	name string
}

// dialWS opens a socket; client carries the cookies (nil: anonymous). It
// returns once the server has registered the socket: the handshake ends
// before the server's hub knows the socket, so it sends a frame every
// kind of socket answers (an empty object: unknown_command) and waits for
// the answer.
func (e *chatEnv) dialWS(path string, client *http.Client) *wsClient {
	e.t.Helper()
	c, resp, err := e.tryDial(path, client, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	c.send("{}")
	c.expectError("unknown_command")
	return c
}

func (e *chatEnv) tryDial(path string, client *http.Client, header http.Header) (*wsClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, e.wsURL(path), &websocket.DialOptions{HTTPClient: client, HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(64 << 20)
	c := &wsClient{t: e.t, conn: conn, name: path}
	e.t.Cleanup(func() { conn.CloseNow() })
	return c, resp, nil
}

// send writes one JSON frame.
func (c *wsClient) send(v any) {
	c.t.Helper()
	var b []byte
	if s, ok := v.(string); ok {
		b = []byte(s)
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// frame is a decoded server frame.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }
func (f frame) msg() frame          { m, _ := f["message"].(map[string]any); return m }
func (f frame) num(k string) int64  { n, _ := f[k].(float64); return int64(n) }

// next reads the next frame, under a deadline.
func (c *wsClient) next() frame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.name, err)
	}
	return f
}

func (c *wsClient) read() (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f, nil
}

// expect reads the next frame and checks its command.
func (c *wsClient) expect(command string) frame {
	c.t.Helper()
	f := c.next()
	if got := f.str("command"); got != command {
		c.t.Fatalf("%s: got frame %v, want command %q", c.name, f, command)
	}
	return f
}

// expectError reads the next frame and checks it is an error with code.
func (c *wsClient) expectError(code string) {
	c.t.Helper()
	f := c.expect("error")
	if got := f.str("error"); got != code {
		c.t.Fatalf("%s: error %q (%s), want %q", c.name, got, f.str("detail"), code)
	}
	if f.str("detail") == "" {
		c.t.Fatalf("%s: error frame without detail: %v", c.name, f)
	}
}

// expectClose reads until the socket closes and checks the status.
func (c *wsClient) expectClose(code websocket.StatusCode) {
	c.t.Helper()
	for {
		_, err := c.read()
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			c.t.Fatalf("%s: closed with %v (%v), want %v", c.name, got, err, code)
		}
		return
	}
}

// probe proves nothing else is queued for a chat socket: it asks for one
// message and asserts the very next frame is the answer.
func (c *wsClient) probe() {
	c.t.Helper()
	c.send(map[string]any{"command": "fetch_messages", "limit": 1})
	c.expect("messages")
}

// probeRooms is probe for an admin room socket.
func (c *wsClient) probeRooms() frame {
	c.t.Helper()
	c.send(map[string]any{"command": "fetch_rooms"})
	return c.expect("rooms")
}

// say sends a message and returns the server's new_message echo.
func (c *wsClient) say(content string) frame {
	c.t.Helper()
	c.send(map[string]any{"command": "new_message", "message": map[string]any{"content": content}})
	return c.expect("new_message").msg()
}

// getJSON does a GET and decodes the JSON answer.
func (e *chatEnv) getJSON(client *http.Client, path string, want int, dst any) *http.Response {
	e.t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(e.ts.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, want, b)
	}
	if dst != nil {
		if err := json.Unmarshal(b, dst); err != nil {
			e.t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return resp
}

// upload posts a chat file.
func (e *chatEnv) upload(client *http.Client, room, name string, data []byte) (*http.Response, []byte) {
	e.t.Helper()
	if client == nil {
		client = http.DefaultClient
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
	resp, err := client.Post(e.ts.URL+"/chatbot/message/file/upload", mw.FormDataContentType(), &buf)
	if err != nil {
		e.t.Fatal(err)
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
