package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
		// In bursts of 25, each read back before the next: 250 echoes
		// unread could overflow the socket's 64-frame queue on a busy
		// machine and close it as slow.
		for i := range 250 {
			v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": fmt.Sprint("m", i)}})
			if i%25 == 24 {
				for range 25 {
					v.expect("new_message")
				}
			}
		}
		a := free.dialWS("/ws/chat/shop/history", admin)
		a.send(map[string]any{"command": "fetch_messages", "limit": 1000})
		f := a.expect("messages")
		if msgs := f["messages"].([]any); len(msgs) != 200 || f["has_more"] != true {
			t.Fatalf("fetch of 1000 gave %d messages, has_more %v; want 200, true", len(msgs), f["has_more"])
		}
	})
}

// refusedDial dials path expecting the upgrade to be refused with status,
// and returns the JSON error body. A 429 must carry Retry-After.
func (ts *testServer) refusedDial(path string, client *testClient, header http.Header, status int) map[string]any {
	ts.t.Helper()
	c, resp, err := ts.tryDial(path, client, header)
	if err == nil {
		c.conn.CloseNow()
		ts.t.Fatalf("dial %s: upgraded, want %d", path, status)
	}
	if resp == nil || resp.StatusCode != status {
		ts.t.Fatalf("dial %s: %v (response %v), want status %d", path, err, resp, status)
	}
	if status == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			ts.t.Fatalf("dial %s: 429 with Retry-After %q", path, resp.Header.Get("Retry-After"))
		}
	}
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil || body["detail"] == "" || body["detail"] == nil {
		ts.t.Fatalf("dial %s: body %q is not a JSON error", path, b)
	}
	return body
}

// countRooms is how many rooms are stored.
func (ts *testServer) countRooms() int {
	ts.t.Helper()
	var n int
	if err := ts.DB.reader.QueryRow("SELECT count(*) FROM rooms").Scan(&n); err != nil {
		ts.t.Fatal(err)
	}
	return n
}

// TestRoomsPerAddress (issue 12, finding 1): one client address opening
// /ws/chat/<user>/<new id> in a loop made 94,939 rooms in 20 s. Now an
// upgrade that would create one more room than RoomsPerAddress in the
// window gets 429 before the upgrade and stores nothing; existing rooms
// still open; new_room on the room socket counts too; another address
// (behind a trusted proxy) has its own count; the window slides.
func TestRoomsPerAddress(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.RoomsPerAddress = 3
		c.RoomsWindow = time.Hour
		c.TrustProxy = true
	})
	ts.client().signup("acme")
	for i := range 3 {
		ts.dialWS(fmt.Sprint("/ws/chat/acme/v", i), nil)
	}
	body := ts.refusedDial("/ws/chat/acme/v3", nil, nil, http.StatusTooManyRequests)
	if !strings.Contains(body["detail"].(string), "new conversations") {
		t.Fatalf("detail %q", body["detail"])
	}
	if n := ts.countRooms(); n != 3 {
		t.Fatalf("%d rooms after the refusal, want 3", n)
	}
	// An existing room is not a new one.
	ts.dialWS("/ws/chat/acme/v0", nil).say("still welcome")
	// The visitor's room socket creates rooms too.
	rs := ts.dialWS("/ws/room/acme", nil)
	rs.send(map[string]any{"command": "new_room", "consumer": "v4"})
	rs.expectError("rate_limited")
	rs.send(map[string]any{"command": "new_room", "consumer": "v1"})
	rs.expect("room_exists")
	// Another address behind the proxy has its own count.
	other := http.Header{"X-Forwarded-For": {"203.0.113.7"}}
	c, _, err := ts.tryDial("/ws/chat/acme/elsewhere", nil, other)
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	c.conn.CloseNow()
	ts.refusedDial("/ws/chat/acme/v5", nil, http.Header{"X-Forwarded-For": {"127.0.0.1"}}, http.StatusTooManyRequests)
	// The window slides: an hour later the address may create rooms again.
	ts.clock.Advance(time.Hour + time.Second)
	ts.dialWS("/ws/chat/acme/v6", nil)
	// The "elsewhere" socket was closed right after its handshake: its
	// room is committed by the server's handler, which may still be on
	// its way under load.
	waitFor(t, "the rooms to be stored", func() bool { return ts.countRooms() >= 5 })
	if n := ts.countRooms(); n != 5 {
		t.Fatalf("%d rooms, want 5", n)
	}
}

// TestSocketsPerAddress (finding 10): 8,000 sockets from one address were
// accepted. Now one more than SocketsPerAddress open sockets gets 429
// before the upgrade; closing one frees its slot; admins count too (anyone
// can sign up), and the limit is per address.
func TestSocketsPerAddress(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.SocketsPerAddress = 3
		c.TrustProxy = true
	})
	admin := ts.client().signup("acme")
	ts.dialWS("/ws/room/acme", admin)
	ts.dialWS("/ws/chat/acme/a", nil)
	b := ts.dialWS("/ws/chat/acme/b", nil)
	ts.refusedDial("/ws/chat/acme/c", nil, nil, http.StatusTooManyRequests)
	ts.refusedDial("/ws/room/acme", admin, nil, http.StatusTooManyRequests)
	if n := ts.countRooms(); n != 2 {
		t.Fatalf("%d rooms, want 2 (a refused upgrade creates none)", n)
	}
	c, _, err := ts.tryDial("/ws/chat/acme/c", nil, http.Header{"X-Forwarded-For": {"198.51.100.1"}})
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	defer c.conn.CloseNow()
	b.conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the closed socket's slot", func() bool {
		c, _, err := ts.tryDial("/ws/chat/acme/d", nil, nil)
		if err == nil {
			c.conn.CloseNow()
		}
		return err == nil
	})
}

// TestAddressLimitsAtDefaults: SPEC's defaults for the per-address
// limits (testConfig lifts them): 60 new rooms per 10 minutes and 200
// open sockets per address, 20 uploads per 10 minutes with 4 in flight,
// bodies under 10 s / 30 s deadlines, 1 GiB stored per business, a
// 256 MiB free-disk floor, empty rooms purged after 24 h.
func TestAddressLimitsAtDefaults(t *testing.T) {
	def := DefaultConfig()
	if def.RoomsPerAddress != 60 || def.RoomsWindow != 10*time.Minute || def.SocketsPerAddress != 200 ||
		def.UploadsPerAddress != 20 || def.UploadsWindow != 10*time.Minute || def.UploadsInFlight != 4 ||
		def.BodyTimeout != 10*time.Second || def.UploadTimeout != 30*time.Second ||
		def.MaxStorage != 1<<30 || def.MinFreeDisk != 256<<20 || def.PurgeEmptyRooms != 24*time.Hour {
		t.Fatalf("defaults differ from SPEC: %+v", def)
	}
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.RoomsPerAddress, c.SocketsPerAddress = def.RoomsPerAddress, def.SocketsPerAddress
	})
	ts.client().signup("acme")
	var open []*wsClient
	for i := range 60 {
		// dialWS returns once the room is stored, so "v0" below is an
		// existing room for sure.
		open = append(open, ts.dialWS(fmt.Sprint("/ws/chat/acme/v", i), nil))
	}
	ts.refusedDial("/ws/chat/acme/v60", nil, nil, http.StatusTooManyRequests)
	for len(open) < 200 {
		c, _, err := ts.tryDial("/ws/chat/acme/v0", nil, nil)
		if err != nil {
			t.Fatalf("socket %d: %v", len(open)+1, err)
		}
		open = append(open, c)
	}
	ts.refusedDial("/ws/chat/acme/v0", nil, nil, http.StatusTooManyRequests)
	if n := ts.countRooms(); n != 60 {
		t.Fatalf("%d rooms, want 60", n)
	}
	for _, c := range open {
		c.conn.CloseNow()
	}

	t.Run("uploads", func(t *testing.T) {
		ts := newTestServer(t, chatConfig, func(c *Config) {
			c.UploadsPerAddress, c.UploadsInFlight, c.TrustProxy = def.UploadsPerAddress, def.UploadsInFlight, true
		})
		ts.client().signup("acme")
		ts.dialWS("/ws/chat/acme/v", nil)
		for i := range 20 {
			ts.mustUpload(http.StatusCreated, "acme v", []byte(fmt.Sprint("file ", i)))
		}
		ts.mustUpload(http.StatusTooManyRequests, "acme v", []byte("the 21st"))
		// 4 in flight from one (other) address, then 429.
		other := http.Header{"X-Forwarded-For": {"203.0.113.50"}}
		for range 4 {
			ts.stalledUpload("acme v", 1<<20, 100, other)
		}
		waitFor(t, "4 uploads in flight", func() bool { n, _ := ts.spooled(); return n == 4 })
		ts.mustUpload(http.StatusTooManyRequests, "acme v", []byte("a 5th at once"), "X-Forwarded-For", "203.0.113.50")
	})
}

// TestBinaryFrameRefused (finding 11): JSON in a binary frame was
// processed. The protocol is text frames: a binary frame gets an error
// frame bad_frame, is not processed, and the socket stays open.
func TestBinaryFrameRefused(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
	v := ts.dialWS("/ws/chat/acme/bin", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.conn.Write(ctx, websocket.MessageBinary, []byte(`{"command":"new_message","message":{"content":"binary"}}`)); err != nil {
		t.Fatal(err)
	}
	v.expectError("bad_frame")
	v.say("text")
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM messages").Scan(&n)
	if n != 1 {
		t.Fatalf("%d messages stored, want 1 (the text one)", n)
	}
}

// TestLimitAddrIPv6Block: an IPv6 client counts as its /64, since one
// subscriber can pick any address in it; IPv4 addresses count one by one.
func TestLimitAddrIPv6Block(t *testing.T) {
	s := &Server{cfg: Config{TrustProxy: true}}
	key := func(xff string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:1234"
		r.Header.Set("X-Forwarded-For", xff)
		return s.limitAddr(r)
	}
	if a, b := key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"); a != b || a != "2001:db8:1:2::/64" {
		t.Fatalf("one /64 gave %q and %q", a, b)
	}
	if a, b := key("2001:db8:1:2::1"), key("2001:db8:1:3::1"); a == b {
		t.Fatalf("two /64s share %q", a)
	}
	if a, b := key("203.0.113.1"), key("203.0.113.2"); a == b || a != "203.0.113.1" {
		t.Fatalf("IPv4 keys %q and %q", a, b)
	}
	if k := key("::ffff:203.0.113.1"); k != "::ffff:203.0.113.1" {
		t.Fatalf("IPv4-mapped key %q", k)
	}
}
