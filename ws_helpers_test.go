package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsURL turns a path into a ws:// URL of the test server.
func (ts *testServer) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
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
func (ts *testServer) dialWS(path string, client *testClient) *wsClient {
	ts.t.Helper()
	c, resp, err := ts.tryDial(path, client, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		ts.t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	c.send("{}")
	c.expectError("unknown_command")
	return c
}

// tryDial opens a socket and returns what the handshake gave.
func (ts *testServer) tryDial(path string, client *testClient, header http.Header) (*wsClient, *http.Response, error) {
	var hc *http.Client
	if client != nil {
		hc = client.HTTP
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, ts.wsURL(path), &websocket.DialOptions{HTTPClient: hc, HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(64 << 20)
	c := &wsClient{t: ts.t, conn: conn, name: path}
	ts.t.Cleanup(func() { conn.CloseNow() })
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
