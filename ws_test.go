package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestChatConversation is the story of one conversation: the inbox open in
// two tabs, a visitor arriving, messages both ways, history, typing, read
// receipts and presence.
func TestChatConversation(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	tab1 := env.dialWS("/ws/room/acme", admin)
	tab2 := env.dialWS("/ws/room/ACME", admin) // usernames are matched case-insensitively
	if got := tab1.probeRooms()["rooms"].([]any); len(got) != 0 {
		t.Fatalf("rooms = %v, want none", got)
	}
	tab2.probeRooms()

	// A visitor opens the chat: the room is created and announced, then
	// the visitor is online.
	vis := env.dialWS("/ws/chat/acme/visitor-1", nil)
	for _, tab := range []*wsClient{tab1, tab2} {
		f := tab.expect("new_room")
		room := f["room"].(map[string]any)
		if room["consumer"] != "visitor-1" || room["online"] != false || len(room["messages"].([]any)) != 0 {
			t.Fatalf("new_room = %v", f)
		}
		p := tab.expect("presence")
		if p.str("consumer") != "visitor-1" || p["online"] != true {
			t.Fatalf("presence = %v", p)
		}
	}

	// The visitor writes; the server sets author, type and room and trims.
	vis.send(`{"command":"new_message","message":{"content":"  hello  ","client_id":"c1","author":"mallory","type":"image/png","room":"x y","created":"never","extra":1}}`)
	m := vis.expect("new_message").msg()
	if m.str("content") != "hello" || m.str("author") != "visitor-1" || m.str("type") != "text" ||
		m.str("room") != "acme visitor-1" || m.str("client_id") != "c1" || m.str("file") != "" || m.num("id") < 1 {
		t.Fatalf("message = %v", m)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", m.str("created")); err != nil {
		t.Fatalf("created %q: %v", m.str("created"), err)
	}
	for _, tab := range []*wsClient{tab1, tab2} {
		if got := tab.expect("new_message").msg(); got.num("id") != m.num("id") || got.str("content") != "hello" {
			t.Fatalf("inbox got %v, want %v", got, m)
		}
	}

	// The admin answers from a chat socket of the room.
	adminChat := env.dialWS("/ws/chat/acme/visitor-1", admin)
	a := adminChat.say("Hi, how can I help?")
	if a.str("author") != "acme" {
		t.Fatalf("admin message author = %q", a.str("author"))
	}
	if got := vis.expect("new_message").msg(); got.num("id") != a.num("id") {
		t.Fatalf("visitor got %v", got)
	}
	for _, tab := range []*wsClient{tab1, tab2} {
		tab.expect("new_message")
		tab.probeRooms() // exactly once: nothing else was queued
	}

	// Typing goes to the other side only.
	vis.send(map[string]any{"command": "typing", "typing": true})
	if f := adminChat.expect("typing"); f.str("consumer") != "visitor-1" || f["typing"] != true || f.str("by") != "visitor-1" {
		t.Fatalf("typing = %v", f)
	}
	for _, tab := range []*wsClient{tab1, tab2} {
		if f := tab.expect("typing"); f.str("consumer") != "visitor-1" {
			t.Fatalf("typing = %v", f)
		}
	}
	vis.probe()
	adminChat.send(map[string]any{"command": "typing", "typing": false})
	if f := vis.expect("typing"); f["typing"] != false || f.str("by") != "acme" {
		t.Fatalf("typing = %v", f)
	}
	adminChat.probe()
	tab1.probeRooms()

	// Unread counts the visitor's messages until the admin reads them.
	vis.say("are you there?")
	adminChat.expect("new_message")
	tab1.expect("new_message")
	tab2.expect("new_message")
	rooms := tab1.probeRooms()["rooms"].([]any)
	if len(rooms) != 1 || rooms[0].(map[string]any)["unread"].(float64) != 2 || rooms[0].(map[string]any)["online"] != true {
		t.Fatalf("rooms = %v", rooms)
	}
	if msgs := rooms[0].(map[string]any)["messages"].([]any); len(msgs) != 3 {
		t.Fatalf("room messages = %d, want 3", len(msgs))
	}
	last := rooms[0].(map[string]any)["messages"].([]any)[2].(map[string]any)
	adminChat.send(map[string]any{"command": "read", "up_to": last["id"]})
	if f := vis.expect("read"); f.str("by") != "acme" || f.num("up_to") != int64(last["id"].(float64)) {
		t.Fatalf("read = %v", f)
	}
	adminChat.probe()
	rooms = tab1.probeRooms()["rooms"].([]any)
	if got := rooms[0].(map[string]any)["unread"].(float64); got != 0 {
		t.Fatalf("unread after read = %v", got)
	}
	vis.send(map[string]any{"command": "read", "up_to": a.num("id")})
	if f := adminChat.expect("read"); f.str("by") != "visitor-1" {
		t.Fatalf("read = %v", f)
	}
	tab1.expect("read")
	tab2.expect("read")
	vis.probe()

	// History pages oldest first, with has_more.
	vis.send(map[string]any{"command": "fetch_messages", "limit": 2})
	f := vis.expect("messages")
	msgs := f["messages"].([]any)
	if len(msgs) != 2 || f["has_more"] != true || msgs[0].(map[string]any)["content"] != "Hi, how can I help?" {
		t.Fatalf("messages = %v", f)
	}
	vis.send(map[string]any{"command": "fetch_messages", "before": msgs[0].(map[string]any)["id"]})
	f = vis.expect("messages")
	if got := f["messages"].([]any); len(got) != 1 || f["has_more"] != false || got[0].(map[string]any)["content"] != "hello" {
		t.Fatalf("older messages = %v", f)
	}

	// Presence: a second visitor socket is not news; the last one leaving is.
	vis2 := env.dialWS("/ws/chat/acme/visitor-1", nil)
	vis2.probe()
	vis.conn.Close(websocket.StatusNormalClosure, "")
	vis2.say("from the second tab")
	tab1.expect("new_message") // not a presence frame
	vis2.conn.Close(websocket.StatusNormalClosure, "")
	if p := tab1.expect("presence"); p["online"] != false || p.str("consumer") != "visitor-1" {
		t.Fatalf("presence = %v", p)
	}
	adminChat.expect("new_message")
	if p := adminChat.expect("presence"); p["online"] != false {
		t.Fatalf("presence = %v", p)
	}
}

// TestChatVisitorsAreIsolated: several visitors at once, each sees only
// its own room; the inbox sees everything once.
func TestChatVisitorsAreIsolated(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("shop")
	other := env.chatSignup("other")
	inbox := env.dialWS("/ws/room/shop", admin)
	otherInbox := env.dialWS("/ws/room/other", other)
	var visitors []*wsClient
	for i := range 3 {
		v := env.dialWS(fmt.Sprintf("/ws/chat/shop/v%d", i), nil)
		inbox.expect("new_room")
		inbox.expect("presence")
		visitors = append(visitors, v)
	}
	for i, v := range visitors {
		m := v.say(fmt.Sprintf("message from v%d", i))
		if m.str("author") != fmt.Sprintf("v%d", i) {
			t.Fatalf("author = %q", m.str("author"))
		}
		if got := inbox.expect("new_message").msg(); got.str("room") != fmt.Sprintf("shop v%d", i) {
			t.Fatalf("inbox got %v", got)
		}
	}
	for _, v := range visitors {
		v.probe()
	}
	inbox.probeRooms()
	otherInbox.probeRooms() // another account hears nothing

	// Being signed in as another account makes one a visitor here.
	asOther := env.dialWS("/ws/room/shop", other)
	asOther.send(map[string]any{"command": "fetch_rooms"})
	asOther.expectError("forbidden")
	chatAsOther := env.dialWS("/ws/chat/shop/v0", other)
	if m := chatAsOther.say("hi"); m.str("author") != "v0" {
		t.Fatalf("author = %q, want the consumer", m.str("author"))
	}
}

// TestChatRoomSocketVisitor covers the two-socket handshake of the
// original client and what a visitor may not do.
func TestChatRoomSocketVisitor(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	inbox := env.dialWS("/ws/room/acme", admin)
	vis := env.dialWS("/ws/room/acme", nil)

	for _, cmd := range []string{"fetch_rooms", "fetch_messages", "new_message", "typing", "read", "whatever"} {
		vis.send(map[string]any{"command": cmd})
		vis.expectError("forbidden")
	}
	vis.send(map[string]any{"command": "new_room", "consumer": "abc"})
	f := vis.expect("new_room")
	if room := f["room"].(map[string]any); room["consumer"] != "abc" || room["consumer_email"] != "" {
		t.Fatalf("new_room = %v", f)
	}
	if got := inbox.expect("new_room")["room"].(map[string]any)["consumer"]; got != "abc" {
		t.Fatalf("inbox new_room for %v", got)
	}
	// "room" is the same command; an email given is stored.
	vis.send(map[string]any{"command": "room", "consumer": "abc", "email": "ann@example.com"})
	vis.expect("room_exists")
	// The inbox hears of the email at once (livechat's room_updated).
	if f := inbox.expect("room_updated"); f.str("consumer") != "abc" || f.str("consumer_email") != "ann@example.com" {
		t.Fatalf("room_updated = %v", f)
	}
	vis.send(map[string]any{"command": "new_room", "consumer": "abc", "email": "not an email"})
	vis.expectError("bad_field")
	vis.send(map[string]any{"command": "new_room", "consumer": "bad id!"})
	vis.expectError("bad_field")
	vis.send(map[string]any{"command": "new_room"})
	vis.expectError("bad_field")

	// The visitor's chat socket for that room exists already: no new_room.
	chat := env.dialWS("/ws/chat/acme/abc", nil)
	inbox.expect("presence")
	chat.say("hello")
	inbox.expect("new_message")
	// The visitor's room socket never hears of rooms or messages.
	vis.send(map[string]any{"command": "new_room", "consumer": "abc"})
	vis.expect("room_exists")
	rooms := inbox.probeRooms()["rooms"].([]any)
	if len(rooms) != 1 || rooms[0].(map[string]any)["consumer_email"] != "ann@example.com" {
		t.Fatalf("rooms = %v", rooms)
	}
	// The admin's room socket offers fetch_rooms only.
	inbox.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "x"}})
	inbox.expectError("forbidden")
	inbox.send(map[string]any{"command": "nope"})
	inbox.expectError("unknown_command")
	chat.send(map[string]any{"command": "fetch_rooms"})
	chat.expectError("forbidden")
}

// TestChatErrors: every bad frame gets an error frame and the socket
// stays usable.
func TestChatErrors(t *testing.T) {
	env := chatTestServer(t, func(c *Config) { c.MaxContent = 10 })
	env.chatSignup("acme")
	vis := env.dialWS("/ws/chat/acme/v", nil)
	cases := []struct{ frame, code string }{
		{`not json`, "bad_json"},
		{`[1,2]`, "bad_json"},
		{`"str"`, "bad_json"},
		{`{}`, "unknown_command"},
		{`null`, "unknown_command"},
		{`{"command":7}`, "unknown_command"},
		{`{"command":"dance"}`, "unknown_command"},
		{`{"command":"new_message"}`, "bad_field"},
		{`{"command":"new_message","message":"hi"}`, "bad_field"},
		{`{"command":"new_message","message":{}}`, "bad_field"},
		{`{"command":"new_message","message":{"content":"   "}}`, "bad_field"},
		{`{"command":"new_message","message":{"content":"12345678901"}}`, "bad_field"},
		{`{"command":"new_message","message":{"content":5}}`, "bad_field"},
		{`{"command":"new_message","message":{"content":"ok","client_id":5}}`, "bad_field"},
		{`{"command":"new_message","message":{"content":"ok","client_id":"` + strings.Repeat("x", 101) + `"}}`, "bad_field"},
		{`{"command":"new_message","message":{"id":"x"}}`, "bad_field"},
		{`{"command":"new_message","message":{"id":999}}`, "not_found"},
		{`{"command":"fetch_messages","limit":0}`, "bad_field"},
		{`{"command":"fetch_messages","limit":"ten"}`, "bad_field"},
		{`{"command":"fetch_messages","before":-1}`, "bad_field"},
		{`{"command":"typing"}`, "bad_field"},
		{`{"command":"typing","typing":"yes"}`, "bad_field"},
		{`{"command":"read"}`, "bad_field"},
		{`{"command":"read","up_to":0}`, "bad_field"},
		{`{"command":"new_room","consumer":"v"}`, "forbidden"},
	}
	for _, c := range cases {
		vis.send(c.frame)
		vis.expectError(c.code)
	}
	// Exactly 10 characters (runes) is fine; irrelevant bad fields are ignored.
	m := vis.say("ééééééééé!")
	if m.str("content") != "ééééééééé!" {
		t.Fatalf("content = %q", m.str("content"))
	}
	vis.send(`{"command":"fetch_messages","typing":"bad","up_to":"bad"}`)
	vis.expect("messages")
}

// TestChatClientIDAndResend: a repeated client_id gets the stored message
// back (to the sender only); re-sending an uploaded message's id creates
// nothing.
func TestChatClientIDAndResend(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	inbox := env.dialWS("/ws/room/acme", admin)
	vis := env.dialWS("/ws/chat/acme/v1", nil)
	inbox.expect("new_room")
	inbox.expect("presence")
	adminChat := env.dialWS("/ws/chat/acme/v1", admin)

	send := func(content, cid string) {
		vis.send(map[string]any{"command": "new_message", "message": map[string]any{"content": content, "client_id": cid}})
	}
	send("first", "k1")
	m1 := vis.expect("new_message").msg()
	inbox.expect("new_message")
	adminChat.expect("new_message")
	send("first again", "k1")
	m2 := vis.expect("new_message").msg()
	if m2.num("id") != m1.num("id") || m2.str("content") != "first" {
		t.Fatalf("repeat got %v, want the stored %v", m2, m1)
	}
	inbox.probeRooms()
	adminChat.probe()
	// The same client_id in another room is another message.
	vis2 := env.dialWS("/ws/chat/acme/v2", nil)
	inbox.expect("new_room")
	inbox.expect("presence")
	vis2.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "other room", "client_id": "k1"}})
	if m := vis2.expect("new_message").msg(); m.num("id") == m1.num("id") {
		t.Fatal("client_id deduplicated across rooms")
	}
	inbox.expect("new_message")

	// The original client re-sends an upload's message by id.
	resp, body := env.upload(nil, "acme v1", "notes.txt", []byte("some notes\n"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	up := vis.expect("new_message").msg()
	inbox.expect("new_message")
	adminChat.expect("new_message")
	vis.send(map[string]any{"command": "new_message", "message": up})
	vis.probe()
	inbox.probeRooms()
	adminChat.probe()
	vis.send(map[string]any{"command": "fetch_messages"})
	if got := len(vis.expect("messages")["messages"].([]any)); got != 2 {
		t.Fatalf("room has %d messages, want 2", got)
	}
	// An id from another room is not this room's.
	vis2.send(map[string]any{"command": "new_message", "message": map[string]any{"id": up.num("id")}})
	vis2.expectError("not_found")
}

// TestChatHandshake covers what happens before the upgrade: unknown
// usernames, bad consumer ids, origins.
func TestChatHandshake(t *testing.T) {
	env := chatTestServer(t, func(c *Config) { c.AllowedOrigins = []string{"*.partner.example"} })
	env.chatSignup("acme")
	for _, tc := range []struct {
		path   string
		origin string
		want   int
	}{
		{"/ws/room/nobody", "", http.StatusNotFound},
		{"/ws/chat/nobody/v1", "", http.StatusNotFound},
		{"/ws/chat/acme/bad%20id", "", http.StatusBadRequest},
		{"/ws/chat/acme/" + strings.Repeat("x", 65), "", http.StatusBadRequest},
		{"/ws/chat/acme/v1", "https://evil.example", http.StatusForbidden},
		{"/ws/room/acme", "https://evil.example", http.StatusForbidden},
		{"/ws/chat/acme/v1", "https://www.partner.example", http.StatusSwitchingProtocols},
		{"/ws/chat/acme/v1", env.ts.URL, http.StatusSwitchingProtocols},
		{"/ws/chat/acme/v1", "", http.StatusSwitchingProtocols},
		{"/ws/chat/Acme/v1", "", http.StatusSwitchingProtocols},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := env.tryDial(tc.path, nil, h)
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if got != tc.want {
			t.Errorf("%s origin %q: status %d (%v), want %d", tc.path, tc.origin, got, err, tc.want)
		}
		if c != nil {
			c.probe()
		}
	}
}

// TestChatLimits: a frame over the limit closes with 1009; the rate limit
// refuses, then closes a socket that keeps going with 1008.
func TestChatLimits(t *testing.T) {
	env := chatTestServer(t, func(c *Config) {
		c.MaxFrame = 1024
		c.RateMessages = 3
		c.RateWindow = time.Hour
		c.RateStrikes = 2
	})
	env.chatSignup("acme")

	t.Run("frame", func(t *testing.T) {
		v := env.dialWS("/ws/chat/acme/big", nil)
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 900)})
		v.expect("messages")
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 1100)})
		v.expectClose(websocket.StatusMessageTooBig)
	})
	t.Run("rate", func(t *testing.T) {
		v := env.dialWS("/ws/chat/acme/fast", nil)
		for i := range 3 {
			v.say(fmt.Sprint("message ", i))
		}
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "one too many"}})
		v.expectError("rate_limited")
		v.probe() // other commands still work
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "again"}})
		v.expectClose(websocket.StatusPolicyViolation)
		// The limit is per socket.
		v2 := env.dialWS("/ws/chat/acme/fast", nil)
		v2.say("fresh socket")
	})
}

// TestChatSlowSocketKicked: a socket whose queue is full is closed with
// 1008 while the room goes on.
func TestChatSlowSocketKicked(t *testing.T) {
	env := chatTestServer(t, func(c *Config) {
		c.SendQueue = 4
		c.PingInterval = time.Hour
		c.MaxContent = 60000 // big frames fill the loopback buffers sooner
		c.MaxFrame = 64000
	})
	admin := env.chatSignup("acme")
	slow := env.dialWS("/ws/chat/acme/slow", nil) // stops reading after the probe
	slow.probe()                                  // registered before the admin's socket
	fast := env.dialWS("/ws/chat/acme/slow", admin)
	big := strings.Repeat("x", 60000)
	// Loopback buffers hold a few MB; keep writing until the server has
	// kicked the slow socket, then check the room still works.
	deadline := time.Now().Add(20 * time.Second)
	kicked := func() bool {
		env.srv.hub.mu.Lock()
		defer env.srv.hub.mu.Unlock()
		for c := range env.srv.hub.all {
			select {
			case <-c.kicked:
				return true
			default:
			}
		}
		return false
	}
	for !kicked() {
		fast.send(map[string]any{"command": "new_message", "message": map[string]any{"content": big}})
		for fast.next().str("command") != "new_message" { // skip the presence frame
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow socket was never kicked")
		}
	}
	fast.probe()
	slow.expectClose(websocket.StatusPolicyViolation)
}

// TestHubKicksFullQueue checks the hub rule directly: publishing never
// blocks, and the socket whose queue is full is kicked with 1008.
func TestHubKicksFullQueue(t *testing.T) {
	h := NewHub()
	slow := &subscriber{kind: chatSocket, roomID: 1, userID: 1, send: make(chan []byte, 2), kicked: make(chan struct{})}
	ok := &subscriber{kind: chatSocket, roomID: 1, userID: 1, send: make(chan []byte, 100), kicked: make(chan struct{})}
	h.add(slow, nil)
	h.add(ok, nil)
	for range 5 {
		h.publish(1, 1, toEveryone, []byte("x"), nil)
	}
	select {
	case <-slow.kicked:
	default:
		t.Fatal("slow socket not kicked")
	}
	if slow.kickCode != websocket.StatusPolicyViolation {
		t.Fatalf("kick code %v", slow.kickCode)
	}
	if len(ok.send) != 5 {
		t.Fatalf("ok socket got %d frames, want 5", len(ok.send))
	}
	select {
	case <-ok.kicked:
		t.Fatal("ok socket kicked")
	default:
	}
}

// TestChatDeadConnection: a peer that stops answering pings is dropped.
func TestChatDeadConnection(t *testing.T) {
	env := chatTestServer(t, func(c *Config) { c.PingInterval = 50 * time.Millisecond })
	env.chatSignup("acme")
	// Without a Read call the client library never answers pings.
	env.dialWS("/ws/chat/acme/ghost", nil)
	waitFor(t, "the dead socket to be dropped", func() bool { return env.srv.hub.Count() == 0 })
	// A client that keeps reading (Read answers pings) survives many ping
	// intervals: it keeps getting answers over ten of them.
	v := env.dialWS("/ws/chat/acme/alive", nil)
	frames := make(chan frame, 1)
	go func() {
		defer close(frames)
		for {
			_, b, err := v.conn.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			json.Unmarshal(b, &f)
			frames <- f
		}
	}()
	for range 10 {
		time.Sleep(50 * time.Millisecond)
		v.send(map[string]any{"command": "fetch_messages"})
		select {
		case f, ok := <-frames:
			if !ok || f.str("command") != "messages" {
				t.Fatalf("live socket: got %v (open %v)", f, ok)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("live socket: no answer")
		}
	}
	if n := env.srv.hub.Count(); n != 1 {
		t.Fatalf("%d sockets open, want the live one", n)
	}
}

// TestChatShutdown: every socket is closed with 1001.
func TestChatShutdown(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	sockets := []*wsClient{
		env.dialWS("/ws/room/acme", admin),
		env.dialWS("/ws/room/acme", nil),
		env.dialWS("/ws/chat/acme/v1", nil),
		env.dialWS("/ws/chat/acme/v1", admin),
	}
	var wg sync.WaitGroup
	codes := make([]websocket.StatusCode, len(sockets))
	for i, s := range sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := s.read(); err != nil {
					codes[i] = websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	env.srv.CloseSockets()
	wg.Wait()
	for i, c := range codes {
		if c != websocket.StatusGoingAway {
			t.Errorf("socket %d closed with %v, want 1001", i, c)
		}
	}
	if n := env.srv.hub.Count(); n != 0 {
		t.Fatalf("%d sockets left", n)
	}
	// New sockets are refused once the hub is closed.
	late, _, err := env.tryDial("/ws/chat/acme/v2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	late.expectClose(websocket.StatusGoingAway)
}

// TestChatConcurrentDurable: several visitors and two admin tabs at once
// under the race detector; every socket gets exactly its messages, in id
// order; and after a restart the database holds every message anyone was
// sent.
func TestChatConcurrentDurable(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	tabs := []*wsClient{env.dialWS("/ws/room/acme", admin), env.dialWS("/ws/room/acme", admin)}
	const visitors, each = 8, 25
	var vs []*wsClient
	for i := range visitors {
		v := env.dialWS(fmt.Sprintf("/ws/chat/acme/v%d", i), nil)
		for _, tab := range tabs {
			tab.expect("new_room")
			tab.expect("presence")
		}
		vs = append(vs, v)
	}
	seen := make([]map[int64]string, visitors+len(tabs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen[i] = map[int64]string{}
			for j := range each {
				v.send(map[string]any{"command": "new_message", "message": map[string]any{
					"content": fmt.Sprintf("v%d-%d", i, j), "client_id": fmt.Sprint(j)}})
			}
			last := int64(0)
			for range each {
				f, err := v.read()
				if err != nil || f.str("command") != "new_message" {
					t.Errorf("visitor %d: %v %v", i, f, err)
					return
				}
				m := f.msg()
				if m.num("id") <= last || !strings.HasPrefix(m.str("content"), fmt.Sprintf("v%d-", i)) {
					t.Errorf("visitor %d got %v after id %d", i, m, last)
				}
				last = m.num("id")
				seen[i][m.num("id")] = m.str("content")
			}
		}()
	}
	for k, tab := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen[visitors+k] = map[int64]string{}
			last := int64(0)
			for range visitors * each {
				f, err := tab.read()
				if err != nil || f.str("command") != "new_message" {
					t.Errorf("tab %d: %v %v", k, f, err)
					return
				}
				m := f.msg()
				if m.num("id") <= last {
					t.Errorf("tab %d: id %d after %d (fan-out must follow id order)", k, m.num("id"), last)
				}
				last = m.num("id")
				seen[visitors+k][m.num("id")] = m.str("content")
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, v := range vs {
		v.probe()
	}
	for _, tab := range tabs {
		tab.probeRooms()
	}

	// Restart: close everything and re-open the file.
	for _, c := range append(vs, tabs...) {
		c.conn.Close(websocket.StatusNormalClosure, "")
	}
	env.close()
	db, err := OpenDB(context.Background(), env.cfg.DBPath, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[int64]string{}
	rows, err := db.reader.Query("SELECT id, content FROM messages")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var content string
		rows.Scan(&id, &content)
		stored[id] = content
	}
	rows.Close()
	if len(stored) != visitors*each {
		t.Fatalf("stored %d messages, want %d", len(stored), visitors*each)
	}
	for i, s := range seen {
		for id, content := range s {
			if stored[id] != content {
				t.Fatalf("socket %d was sent message %d %q; stored %q", i, id, content, stored[id])
			}
		}
	}
}

// TestChatAdminSessionRequired: a socket whose session is stale (signed
// out) is a visitor's.
func TestChatAdminSessionRequired(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	resp, err := admin.Post(env.ts.URL+"/accounts/api/logout", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := env.dialWS("/ws/room/acme", admin)
	s.send(map[string]any{"command": "fetch_rooms"})
	s.expectError("forbidden")
	jar, _ := cookiejar.New(nil)
	s = env.dialWS("/ws/room/acme", &http.Client{Jar: jar})
	s.send(map[string]any{"command": "fetch_rooms"})
	s.expectError("forbidden")
}

// TestChatRoomsMatchHistory: the messages fetch_rooms builds in SQL are
// the ones fetch_messages encodes in Go, field for field, last 50 only.
func TestChatRoomsMatchHistory(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	vis := env.dialWS("/ws/chat/acme/v.1~x", nil)
	tricky := []string{`quote " backslash \ slash / <b>&amp;</b>`, "tab\tnewline\nunicode é 😀 \u2028", "plain"}
	for i := range 55 {
		vis.send(map[string]any{"command": "new_message", "message": map[string]any{
			"content": tricky[i%len(tricky)], "client_id": map[bool]any{true: fmt.Sprint("id-", i), false: nil}[i%2 == 0]}})
		vis.expect("new_message")
	}
	if resp, body := env.upload(nil, "acme v.1~x", "ä b.txt", []byte("x")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	vis.expect("new_message")
	inbox := env.dialWS("/ws/room/acme", admin)
	rooms := inbox.probeRooms()["rooms"].([]any)
	got := rooms[0].(map[string]any)["messages"].([]any)
	vis.send(map[string]any{"command": "fetch_messages", "limit": 50})
	want := vis.expect("messages")["messages"].([]any)
	if len(got) != 50 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fetch_rooms messages differ from fetch_messages:\n got %v\nwant %v", got, want)
	}
	for _, m := range got {
		if _, ok := m.(map[string]any)["client_id"]; ok != (m.(map[string]any)["client_id"] != nil) {
			t.Fatalf("client_id null in %v", m)
		}
	}
}

// TestChatReadMark: a read mark past the last message does not hide later
// messages from the unread count; a mark that does not move is not news.
func TestChatReadMark(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	vis := env.dialWS("/ws/chat/acme/v", nil)
	adminChat := env.dialWS("/ws/chat/acme/v", admin)
	vis.say("one")
	adminChat.expect("new_message")
	adminChat.send(map[string]any{"command": "read", "up_to": 1_000_000})
	vis.expect("read")
	adminChat.send(map[string]any{"command": "read", "up_to": 1_000_000})
	adminChat.probe()
	vis.probe() // the repeated mark was not relayed
	vis.say("two")
	adminChat.expect("new_message")
	var page roomsPage
	env.getJSON(admin, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 1 || page.Rooms[0].Unread != 1 {
		t.Fatalf("rooms = %+v, want 1 unread", page.Rooms)
	}
}

// TestChatReadMarkPastEnd: a read mark past the room's last message is
// stored as the last message; it must not block the same socket's later
// marks, and the other side hears the mark as stored.
func TestChatReadMarkPastEnd(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	vis := env.dialWS("/ws/chat/acme/v", nil)
	adminChat := env.dialWS("/ws/chat/acme/v", admin)
	one := vis.say("one")
	adminChat.expect("new_message")
	adminChat.send(map[string]any{"command": "read", "up_to": 1_000_000})
	if f := vis.expect("read"); f.num("up_to") != one.num("id") {
		t.Fatalf("read = %v, want up_to %d (the stored mark)", f, one.num("id"))
	}
	two := vis.say("two")
	adminChat.expect("new_message")
	adminChat.send(map[string]any{"command": "read", "up_to": two.num("id")})
	adminChat.probe()
	if f := vis.expect("read"); f.num("up_to") != two.num("id") {
		t.Fatalf("read = %v, want up_to %d", f, two.num("id"))
	}
	var page roomsPage
	env.getJSON(admin, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 1 || page.Rooms[0].Unread != 0 {
		t.Fatalf("rooms = %+v, want 0 unread", page.Rooms)
	}
}

// TestChatRateWindowSlides: "N messages per window" holds for every
// window, not only for fixed windows from the socket's first message: a
// burst straddling a fixed window's end must not get 2N through.
func TestChatRateWindowSlides(t *testing.T) {
	const window = 2 * time.Second
	env := chatTestServer(t, func(c *Config) {
		c.RateMessages = 3
		c.RateWindow = window
		c.RateStrikes = 100
	})
	env.chatSignup("acme")
	v := env.dialWS("/ws/chat/acme/v", nil)
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

// TestChatHandshakeErrorsAreJSON: a refused upgrade is an API error like
// any other: JSON {"detail":...}, never the library's plain text.
func TestChatHandshakeErrorsAreJSON(t *testing.T) {
	env := chatTestServer(t, nil)
	env.chatSignup("acme")
	for _, tc := range []struct {
		name   string
		path   string
		header map[string]string
		want   int
	}{
		{"foreign origin", "/ws/chat/acme/v1", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"foreign origin, room", "/ws/room/acme", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"not an upgrade", "/ws/chat/acme/v1", nil, http.StatusUpgradeRequired},
		{"not an upgrade, room", "/ws/room/acme", nil, http.StatusUpgradeRequired},
	} {
		req, _ := http.NewRequest(http.MethodGet, env.ts.URL+tc.path, nil)
		if tc.header["Origin"] != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || err != nil || body["detail"] == "" || body["detail"] == nil {
			t.Errorf("%s: %d %q %v (%v), want %d with a JSON detail", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, err, tc.want)
		}
	}
	// Nothing was created by the refused sockets.
	var n int
	env.db.reader.QueryRow("SELECT count(*) FROM rooms").Scan(&n)
	if n != 0 {
		t.Fatalf("%d rooms created by refused upgrades", n)
	}
}

// TestChatSessionEndClosesAdminSockets: a socket is the admin's because
// of the session it was opened with; when that session ends (logout, or a
// password change, which ends the account's other sessions) the socket
// must not go on receiving every conversation.
func TestChatSessionEndClosesAdminSockets(t *testing.T) {
	env := chatTestServer(t, nil)
	owner := env.chatSignup("acme")
	login := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		resp, err := c.Post(env.ts.URL+"/accounts/api/login", "application/json", strings.NewReader(`{"username":"acme","password":"password123"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		return c
	}
	post := func(c *http.Client, path, body string, want int) {
		t.Helper()
		resp, err := c.Post(env.ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	t.Run("logout", func(t *testing.T) {
		other := login()
		stays := env.dialWS("/ws/room/acme", owner)
		inbox := env.dialWS("/ws/room/acme", other)
		chat := env.dialWS("/ws/chat/acme/v1", other)
		post(other, "/accounts/api/logout", "", http.StatusNoContent)
		inbox.expectClose(websocket.StatusPolicyViolation)
		chat.expectClose(websocket.StatusPolicyViolation)
		stays.expect("new_room")
		stays.probeRooms() // another session of the account is untouched
	})
	t.Run("password change", func(t *testing.T) {
		thief := login()
		inbox := env.dialWS("/ws/room/acme", thief)
		chat := env.dialWS("/ws/chat/acme/v2", thief)
		mine := env.dialWS("/ws/room/acme", owner)
		post(owner, "/accounts/api/changepassword", `{"old_password":"password123","new_password":"password456"}`, http.StatusOK)
		inbox.expectClose(websocket.StatusPolicyViolation)
		chat.expectClose(websocket.StatusPolicyViolation)
		mine.expectClose(websocket.StatusPolicyViolation)
		// The owner's browser reconnects with its renewed session.
		env.dialWS("/ws/room/acme", owner).probeRooms()
	})
}

// TestChatSocketsLeaveNothing: after every kind of socket has come and
// gone (closed cleanly, dropped, kicked), the hub counts none and their
// goroutines are gone.
func TestChatSocketsLeaveNothing(t *testing.T) {
	env := chatTestServer(t, func(c *Config) { c.SendQueue = 2 })
	admin := env.chatSignup("acme")
	admin.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()

	inbox := env.dialWS("/ws/room/acme", admin)
	adminChat := env.dialWS("/ws/chat/acme/v0", admin)
	handshake := env.dialWS("/ws/room/acme", nil)
	var visitors []*wsClient
	for i := range 6 {
		v := env.dialWS(fmt.Sprintf("/ws/chat/acme/v%d", i%3), nil)
		v.say("hi")
		visitors = append(visitors, v)
	}
	// A visitor that never reads is kicked by the traffic of its room.
	slow := env.dialWS("/ws/chat/acme/v0", nil)
	for range 10 {
		adminChat.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "flood"}})
	}
	for i, v := range visitors {
		if i%2 == 0 {
			v.conn.Close(websocket.StatusNormalClosure, "")
		} else {
			v.conn.CloseNow()
		}
	}
	handshake.conn.CloseNow()
	adminChat.conn.Close(websocket.StatusNormalClosure, "")
	inbox.conn.CloseNow()
	slow.conn.CloseNow()
	waitFor(t, "the hub to empty", func() bool { return env.srv.hub.Count() == 0 })
	admin.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before the sockets:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// TestChatOtherAccountIsAVisitor: signed in to one account, the sockets
// and uploads of another account are a visitor's; REST shows only one's
// own rooms.
func TestChatOtherAccountIsAVisitor(t *testing.T) {
	env := chatTestServer(t, nil)
	acme := env.chatSignup("acme")
	other := env.chatSignup("other")
	inbox := env.dialWS("/ws/room/acme", acme)

	room := env.dialWS("/ws/room/ACME", other)
	room.send(map[string]any{"command": "fetch_rooms"})
	room.expectError("forbidden")
	chat := env.dialWS("/ws/chat/Acme/v1", other)
	inbox.expect("new_room")
	if p := inbox.expect("presence"); p["online"] != true {
		t.Fatalf("presence = %v: the other account's chat socket counts as a visitor's", p)
	}
	if m := chat.say("hello"); m.str("author") != "v1" || m.str("room") != "acme v1" {
		t.Fatalf("message = %v, want the visitor's", m)
	}
	inbox.expect("new_message")
	resp, body := env.upload(other, "ACME v1", "a.txt", []byte("hello"))
	var m Message
	json.Unmarshal(body, &m)
	if resp.StatusCode != http.StatusCreated || m.Author != "v1" || m.Room != "acme v1" {
		t.Fatalf("upload: %d %+v", resp.StatusCode, m)
	}
	chat.expect("new_message")
	inbox.expect("new_message")
	for _, p := range []string{"/chatbot/api/rooms/v1/messages", "/chatbot/api/rooms/v1/export"} {
		env.getJSON(other, p, http.StatusNotFound, nil)
		env.getJSON(acme, p, http.StatusOK, nil)
	}
	var page roomsPage
	env.getJSON(other, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 0 {
		t.Fatalf("other sees %+v", page.Rooms)
	}
}

// TestChatRoomCreationRateLimited: creating rooms from a visitor's room
// socket stores rows and announces each to the inbox just like a message
// does, so it is under the same per-socket limit: one anonymous socket
// must not fill the database and flood the admin's inbox.
func TestChatRoomCreationRateLimited(t *testing.T) {
	env := chatTestServer(t, func(c *Config) {
		c.RateMessages = 3
		c.RateWindow = time.Hour
		c.RateStrikes = 2
	})
	env.chatSignup("acme")
	v := env.dialWS("/ws/room/acme", nil)
	for i := range 3 {
		v.send(map[string]any{"command": "new_room", "consumer": fmt.Sprint("c", i)})
		v.expect("new_room")
	}
	v.send(map[string]any{"command": "new_room", "consumer": "c3"})
	v.expectError("rate_limited")
	v.send(map[string]any{"command": "room", "consumer": "c4"})
	v.expectClose(websocket.StatusPolicyViolation)
	var n int
	env.db.reader.QueryRow("SELECT count(*) FROM rooms").Scan(&n)
	if n != 3 {
		t.Fatalf("%d rooms, want 3", n)
	}
}

// TestChatChatterLimit: a visitor's typing frames and history fetches are
// limited per socket (typing past the limit is dropped, a fetch gets
// rate_limited), so one anonymous visitor cannot flood the inbox; the
// socket stays usable and the admin is not limited.
func TestChatChatterLimit(t *testing.T) {
	env := chatTestServer(t, func(c *Config) { c.RateChatter = 3; c.RateWindow = time.Hour })
	admin := env.chatSignup("acme")
	inbox := env.dialWS("/ws/room/acme", admin)
	vis := env.dialWS("/ws/chat/acme/v1", nil)
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
	adminChat := env.dialWS("/ws/chat/acme/v1", admin)
	for i := 0; i < 10; i++ {
		adminChat.probe()
	}
}

// TestChatConsumerIsNotTheUsername: the admin's messages carry the
// username as author, so a visitor may not take the username as consumer
// id (its messages would look like the business's). Other cases are fine.
func TestChatConsumerIsNotTheUsername(t *testing.T) {
	env := chatTestServer(t, nil)
	admin := env.chatSignup("acme")
	inbox := env.dialWS("/ws/room/acme", admin)
	_, resp, err := env.tryDial("/ws/chat/acme/acme", nil, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("chat socket with the username as consumer: err=%v resp=%v", err, resp)
	}
	vis := env.dialWS("/ws/room/acme", nil)
	vis.send(map[string]any{"command": "new_room", "consumer": "acme"})
	vis.expectError("bad_field")
	// "ACME" is another id (consumer ids are case-sensitive, usernames lowercase).
	other := env.dialWS("/ws/chat/acme/ACME", nil)
	other.say("hi")
	inbox.expect("new_room")
	inbox.expect("presence")
	inbox.expect("new_message")
	if rooms := inbox.probeRooms()["rooms"].([]any); len(rooms) != 1 || rooms[0].(map[string]any)["consumer"] != "ACME" {
		t.Fatalf("rooms = %v", rooms)
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
	env := chatTestServer(t, func(c *Config) { c.RateMessages = def.RateMessages })
	env.chatSignup("acme")

	t.Run("content", func(t *testing.T) {
		v := env.dialWS("/ws/chat/acme/content", nil)
		longest := strings.Repeat("é", 4000) // characters, not bytes
		if got := v.say("  " + longest + "\n"); got.str("content") != longest {
			t.Fatalf("4000 characters (trimmed) came back as %d bytes", len(got.str("content")))
		}
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": longest + "é"}})
		v.expectError("bad_field")
	})
	t.Run("frame", func(t *testing.T) {
		v := env.dialWS("/ws/chat/acme/frame", nil)
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 64<<10-100)})
		v.expect("messages")
		v.send(map[string]any{"command": "fetch_messages", "pad": strings.Repeat("x", 64<<10)})
		v.expectClose(websocket.StatusMessageTooBig)
	})
	t.Run("rate", func(t *testing.T) {
		v := env.dialWS("/ws/chat/acme/rate", nil)
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
		env.dialWS("/ws/chat/acme/files", nil) // creates the room
		data := bytes.Repeat([]byte("a"), 5<<20)
		if resp, body := env.upload(nil, "acme files", "five.txt", data); resp.StatusCode != http.StatusCreated {
			t.Fatalf("5 MiB upload: %d %s", resp.StatusCode, body)
		}
		if resp, body := env.upload(nil, "acme files", "more.txt", append(data, 'a')); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("5 MiB + 1 upload: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("fetch", func(t *testing.T) {
		free := chatTestServer(t, nil) // message rate lifted to fill the room
		admin := free.chatSignup("shop")
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
