package main

import (
	"context"
	"fmt"
	"net/http"
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
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	tab1 := ts.dialWS("/ws/room/acme", admin)
	tab2 := ts.dialWS("/ws/room/ACME", admin) // usernames are matched case-insensitively
	if got := tab1.probeRooms()["rooms"].([]any); len(got) != 0 {
		t.Fatalf("rooms = %v, want none", got)
	}
	tab2.probeRooms()

	// A visitor opens the chat: the room is created and announced, then
	// the visitor is online.
	vis := ts.dialWS("/ws/chat/acme/visitor-1", nil)
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
	adminChat := ts.dialWS("/ws/chat/acme/visitor-1", admin)
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
	// Reading is shared: every inbox of the business hears of it.
	for _, tab := range []*wsClient{tab1, tab2} {
		if f := tab.expect("read"); f.str("consumer") != "visitor-1" || f.str("by") != "acme" {
			t.Fatalf("inbox read = %v", f)
		}
	}
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
	vis2 := ts.dialWS("/ws/chat/acme/visitor-1", nil)
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
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("shop")
	other := ts.client().signup("other")
	inbox := ts.dialWS("/ws/room/shop", admin)
	otherInbox := ts.dialWS("/ws/room/other", other)
	var visitors []*wsClient
	for i := range 3 {
		v := ts.dialWS(fmt.Sprintf("/ws/chat/shop/v%d", i), nil)
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
	asOther := ts.dialWS("/ws/room/shop", other)
	asOther.send(map[string]any{"command": "fetch_rooms"})
	asOther.expectError("forbidden")
	chatAsOther := ts.dialWS("/ws/chat/shop/v0", other)
	if m := chatAsOther.say("hi"); m.str("author") != "v0" {
		t.Fatalf("author = %q, want the consumer", m.str("author"))
	}
}

// TestChatErrors: every bad frame gets an error frame and the socket
// stays usable.
func TestChatErrors(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.MaxContent = 10 })
	ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/v", nil)
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
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	inbox.expect("new_room")
	inbox.expect("presence")
	adminChat := ts.dialWS("/ws/chat/acme/v1", admin)

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
	vis2 := ts.dialWS("/ws/chat/acme/v2", nil)
	inbox.expect("new_room")
	inbox.expect("presence")
	vis2.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "other room", "client_id": "k1"}})
	if m := vis2.expect("new_message").msg(); m.num("id") == m1.num("id") {
		t.Fatal("client_id deduplicated across rooms")
	}
	inbox.expect("new_message")

	// The original client re-sends an upload's message by id.
	resp, body := ts.upload(nil, "acme v1", "notes.txt", []byte("some notes\n"))
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

// TestChatConcurrentDurable: several visitors and two admin tabs at once
// under the race detector; every socket gets exactly its messages, in id
// order; and after a restart the database holds every message anyone was
// sent.
func TestChatConcurrentDurable(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	tabs := []*wsClient{ts.dialWS("/ws/room/acme", admin), ts.dialWS("/ws/room/acme", admin)}
	const visitors, each = 8, 25
	var vs []*wsClient
	for i := range visitors {
		v := ts.dialWS(fmt.Sprintf("/ws/chat/acme/v%d", i), nil)
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
	ts.Close()
	db, err := OpenDB(context.Background(), ts.Config.DBPath, "NORMAL")
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

// TestChatConsumerIsNotTheUsername: the admin's messages carry the
// username as author, so a visitor may not take the username as consumer
// id (its messages would look like the business's), in any case: "ACME"
// reads as the business as well (issue 12, finding 11). Other ids are fine.
func TestChatConsumerIsNotTheUsername(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	vis := ts.dialWS("/ws/room/acme", nil)
	for _, id := range []string{"acme", "ACME", "Acme"} {
		_, resp, err := ts.tryDial("/ws/chat/acme/"+id, nil, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("chat socket with consumer %q: err=%v resp=%v", id, err, resp)
		}
		vis.send(map[string]any{"command": "new_room", "consumer": id})
		vis.expectError("bad_field")
	}
	other := ts.dialWS("/ws/chat/acme/ACME-2", nil)
	other.say("hi")
	inbox.expect("new_room")
	inbox.expect("presence")
	inbox.expect("new_message")
	if rooms := inbox.probeRooms()["rooms"].([]any); len(rooms) != 1 || rooms[0].(map[string]any)["consumer"] != "ACME-2" {
		t.Fatalf("rooms = %v", rooms)
	}
}
