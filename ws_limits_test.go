package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestChatLimits: a frame over the limit closes with 1009; the rate limit
// refuses, then closes a socket that keeps going with 1008.
func TestChatLimits(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.MaxFrame = 1024
		c.RateMessages = 3
		c.RateWindow = time.Hour
		c.RateStrikes = 2
	})
	ts.client().signup("acme")

	t.Run("frame", func(t *testing.T) {
		v := ts.dialWS("/ws/chat/acme/big", nil)
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 900)})
		v.expect("messages")
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 1100)})
		v.expectClose(websocket.StatusMessageTooBig)
	})
	t.Run("rate", func(t *testing.T) {
		v := ts.dialWS("/ws/chat/acme/fast", nil)
		for i := range 3 {
			v.say(fmt.Sprint("message ", i))
		}
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "one too many"}})
		v.expectError("rate_limited")
		v.probe() // other commands still work
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "again"}})
		v.expectClose(websocket.StatusPolicyViolation)
		// The limit is per socket.
		v2 := ts.dialWS("/ws/chat/acme/fast", nil)
		v2.say("fresh socket")
	})
}

// TestChatRateWindowSlides: "N messages per window" holds for every
// window, not only for fixed windows from the socket's first message: a
// burst straddling a fixed window's end must not get 2N through.
func TestChatRateWindowSlides(t *testing.T) {
	const window = 2 * time.Second
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.RateMessages = 3
		c.RateWindow = window
		c.RateStrikes = 100
	})
	ts.client().signup("acme")
	v := ts.dialWS("/ws/chat/acme/v", nil)
	v.say("m1")
	m1 := time.Now() // the server took m1 before this
	time.Sleep(window * 7 / 10)
	m2 := time.Now() // and m2 after this
	v.say("m2")
	v.say("m3")
	time.Sleep(time.Until(m1.Add(window * 11 / 10)))
	v.say("m4") // m1 has left the last window
	v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "m5"}})
	if time.Since(m2) >= window {
		t.Skip("the machine is too slow for this timing")
	}
	if f := v.next(); f.str("command") != "error" || f.str("error") != "rate_limited" {
		t.Fatalf("4th message within one window: %v, want rate_limited", f)
	}
}

// TestChatRoomCreationRateLimited: creating rooms from a visitor's room
// socket stores rows and announces each to the inbox just like a message
// does, so it is under the same per-socket limit: one anonymous socket
// must not fill the database and flood the admin's inbox.
func TestChatRoomCreationRateLimited(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.RateMessages = 3
		c.RateWindow = time.Hour
		c.RateStrikes = 2
	})
	ts.client().signup("acme")
	v := ts.dialWS("/ws/room/acme", nil)
	for i := range 3 {
		v.send(map[string]any{"command": "new_room", "consumer": fmt.Sprint("c", i)})
		v.expect("new_room")
	}
	v.send(map[string]any{"command": "new_room", "consumer": "c3"})
	v.expectError("rate_limited")
	v.send(map[string]any{"command": "room", "consumer": "c4"})
	v.expectClose(websocket.StatusPolicyViolation)
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM rooms").Scan(&n)
	if n != 3 {
		t.Fatalf("%d rooms, want 3", n)
	}
}

// TestChatChatterLimit: a visitor's typing frames and history fetches are
// limited per socket (typing past the limit is dropped, a fetch gets
// rate_limited), so one anonymous visitor cannot flood the inbox; the
// socket stays usable and the admin is not limited.
func TestChatChatterLimit(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.RateChatter = 3; c.RateWindow = time.Hour })
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	inbox.expect("new_room")
	inbox.expect("presence")

	for i := 0; i < 10; i++ {
		vis.send(map[string]any{"command": "typing", "typing": i%2 == 0})
	}
	vis.send(map[string]any{"command": "fetch_messages"})
	vis.expectError("rate_limited")
	// The socket still sends messages; only 3 typing frames reached the inbox.
	vis.say("still here")
	for i := 0; i < 3; i++ {
		inbox.expect("typing")
	}
	if f := inbox.expect("new_message"); f.msg().str("content") != "still here" {
		t.Fatalf("inbox got %v", f)
	}
	// The admin's own chat socket is not limited.
	adminChat := ts.dialWS("/ws/chat/acme/v1", admin)
	for i := 0; i < 10; i++ {
		adminChat.probe()
	}
}

// TestChatSpecLimitsAtDefaults runs SPEC's socket limits at their default
// values (the other tests shrink them): content 4000 characters after
// trimming, frames 64 KiB (1009 beyond), 20 messages per 10 s then
// rate_limited and 1008 after 20 refusals in a row, fetches of at most
// 200 messages.
func TestChatSpecLimitsAtDefaults(t *testing.T) {
	def := DefaultConfig()
	if def.MaxContent != 4000 || def.MaxFrame != 64<<10 || def.RateMessages != 20 || def.RateWindow != 10*time.Second ||
		def.RateStrikes != 20 || def.MaxUpload != 5<<20 || def.MaxPicture != 1<<20 || def.MaxBody != 64<<10 {
		t.Fatalf("defaults differ from SPEC: %+v", def)
	}
	ts := newTestServer(t, chatConfig, func(c *Config) { c.RateMessages = def.RateMessages })
	ts.client().signup("acme")

	t.Run("content", func(t *testing.T) {
		v := ts.dialWS("/ws/chat/acme/content", nil)
		longest := strings.Repeat("é", 4000) // characters, not bytes
		if got := v.say("  " + longest + "\n"); got.str("content") != longest {
			t.Fatalf("4000 characters (trimmed) came back as %d bytes", len(got.str("content")))
		}
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": longest + "é"}})
		v.expectError("bad_field")
	})
	t.Run("frame", func(t *testing.T) {
		v := ts.dialWS("/ws/chat/acme/frame", nil)
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 64<<10-100)})
		v.expect("messages")
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 64<<10)})
		v.expectClose(websocket.StatusMessageTooBig)
	})
	t.Run("rate", func(t *testing.T) {
		v := ts.dialWS("/ws/chat/acme/rate", nil)
		for i := range 20 {
			v.say(fmt.Sprint("m", i))
		}
		for range 19 {
			v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "too many"}})
			v.expectError("rate_limited")
		}
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "the 20th refusal"}})
		v.expectClose(websocket.StatusPolicyViolation)
	})
	t.Run("upload", func(t *testing.T) {
		ts.dialWS("/ws/chat/acme/files", nil) // creates the room
		data := bytes.Repeat([]byte("a"), 5<<20)
		if resp, body := ts.upload(nil, "acme files", "five.txt", data); resp.StatusCode != http.StatusCreated {
			t.Fatalf("5 MiB upload: %d %s", resp.StatusCode, body)
		}
		if resp, body := ts.upload(nil, "acme files", "more.txt", append(data, 'a')); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("5 MiB + 1 upload: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("fetch", func(t *testing.T) {
		free := newTestServer(t, chatConfig) // message rate lifted to fill the room
		admin := free.client().signup("shop")
		v := free.dialWS("/ws/chat/shop/history", nil)
		for i := range 250 {
			v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": fmt.Sprint("m", i)}})
		}
		for range 250 {
			v.expect("new_message")
		}
		a := free.dialWS("/ws/chat/shop/history", admin)
		a.send(map[string]any{"command": "fetch_messages", "limit": 1000})
		f := a.expect("messages")
		if msgs := f["messages"].([]any); len(msgs) != 200 || f["has_more"] != true {
			t.Fatalf("fetch of 1000 gave %d messages, has_more %v; want 200, true", len(msgs), f["has_more"])
		}
	})
}
