package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestChatRoomSocketVisitor covers the two-socket handshake of the
// original client and what a visitor may not do.
func TestChatRoomSocketVisitor(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	vis := ts.dialWS("/ws/room/acme", nil)

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
	chat := ts.dialWS("/ws/chat/acme/abc", nil)
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

// TestChatRoomsMatchHistory: the messages fetch_rooms builds in SQL are
// the ones fetch_messages encodes in Go, field for field, last 50 only.
func TestChatRoomsMatchHistory(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/v.1~x", nil)
	tricky := []string{`quote " backslash \ slash / <b>&amp;</b>`, "tab\tnewline\nunicode é 😀 \u2028", "plain"}
	for i := range 55 {
		vis.send(map[string]any{"command": "new_message", "message": map[string]any{
			"content": tricky[i%len(tricky)], "client_id": map[bool]any{true: fmt.Sprint("id-", i), false: nil}[i%2 == 0]}})
		vis.expect("new_message")
	}
	if resp, body := ts.upload(nil, "acme v.1~x", "ä b.txt", []byte("x")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	vis.expect("new_message")
	inbox := ts.dialWS("/ws/room/acme", admin)
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
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/v", nil)
	adminChat := ts.dialWS("/ws/chat/acme/v", admin)
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
	ts.getJSON(admin, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 1 || page.Rooms[0].Unread != 1 {
		t.Fatalf("rooms = %+v, want 1 unread", page.Rooms)
	}
}

// TestChatReadMarkPastEnd: a read mark past the room's last message is
// stored as the last message; it must not block the same socket's later
// marks, and the other side hears the mark as stored.
func TestChatReadMarkPastEnd(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/v", nil)
	adminChat := ts.dialWS("/ws/chat/acme/v", admin)
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
	ts.getJSON(admin, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 1 || page.Rooms[0].Unread != 0 {
		t.Fatalf("rooms = %+v, want 0 unread", page.Rooms)
	}
}

// TestFetchRoomsBounded (issue 12, finding 4): fetch_rooms answered every
// room (200 rooms of long messages made a 41 MB frame). Now it answers
// the newest 100 rooms, or limit (at most 200) rooms before a
// last_activity, with has_more, as the REST list pages; walking the pages
// gives every room once.
func TestFetchRoomsBounded(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/room/acme", nil)
	const total = 210
	for i := range total {
		ts.clock.Advance(time.Millisecond) // distinct last_activity
		vis.send(map[string]any{"command": "new_room", "consumer": fmt.Sprint("c", i)})
		vis.expect("new_room")
	}
	ts.seedMessages(t)
	inbox := ts.dialWS("/ws/room/acme", admin)
	fetch := func(fields map[string]any) ([]map[string]any, bool) {
		t.Helper()
		req := map[string]any{"command": "fetch_rooms"}
		for k, v := range fields {
			req[k] = v
		}
		inbox.send(req)
		f := inbox.expect("rooms")
		more, ok := f["has_more"].(bool)
		if !ok {
			t.Fatalf("rooms frame without has_more: %v", f["has_more"])
		}
		var rooms []map[string]any
		for _, r := range f["rooms"].([]any) {
			rooms = append(rooms, r.(map[string]any))
		}
		return rooms, more
	}
	// The original client sends no fields: the newest 100.
	rooms, more := fetch(nil)
	if len(rooms) != 100 || !more || rooms[0]["consumer"] != "c209" || rooms[99]["consumer"] != "c110" {
		t.Fatalf("default page: %d rooms from %v to %v, has_more %v", len(rooms), rooms[0]["consumer"], rooms[len(rooms)-1]["consumer"], more)
	}
	// limit is at most 200.
	if rooms, more := fetch(map[string]any{"limit": 1000}); len(rooms) != 200 || !more {
		t.Fatalf("limit 1000: %d rooms, has_more %v; want 200, true", len(rooms), more)
	}
	// Paging with before gives every room once, newest first.
	seen := map[any]bool{}
	var before any
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		rooms, more := fetch(map[string]any{"limit": 80, "before": before})
		for _, r := range rooms {
			if seen[r["consumer"]] {
				t.Fatalf("room %v twice", r["consumer"])
			}
			seen[r["consumer"]] = true
		}
		if !more {
			break
		}
		before = rooms[len(rooms)-1]["last_activity"]
	}
	if len(seen) != total {
		t.Fatalf("paging gave %d rooms, want %d", len(seen), total)
	}
	for _, bad := range []map[string]any{{"limit": 0}, {"limit": "ten"}, {"before": "yesterday"}, {"before": 5}} {
		req := map[string]any{"command": "fetch_rooms"}
		for k, v := range bad {
			req[k] = v
		}
		inbox.send(req)
		inbox.expectError("bad_field")
	}
}

// TestEmptyRoomsPurged (issue 12, finding 1): rooms made by opening
// /ws/chat/<user>/<new id> stayed forever. A background job now deletes
// rooms that never got a message once they are PurgeEmptyRooms old,
// except while their visitor is connected; rooms with a message, and
// younger rooms, stay.
func TestEmptyRoomsPurged(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.purgeEvery = 20 * time.Millisecond })
	ts.client().signup("acme")
	empty := ts.dialWS("/ws/chat/acme/empty", nil)
	ts.dialWS("/ws/chat/acme/talked", nil).say("hello")
	ts.dialWS("/ws/chat/acme/here", nil) // stays connected
	rs := ts.dialWS("/ws/room/acme", nil)
	rs.send(map[string]any{"command": "new_room", "consumer": "announced"})
	rs.expect("new_room")
	empty.conn.Close(websocket.StatusNormalClosure, "")

	ts.clock.Advance(23 * time.Hour)
	ts.dialWS("/ws/chat/acme/young", nil).conn.CloseNow()
	ts.clock.Advance(2 * time.Hour) // the first rooms are 25 h old, "young" 2 h
	// The inbox lists only rooms with a message now, so ask the store.
	consumers := func() map[string]bool {
		rows, err := ts.DB.reader.Query("SELECT consumer FROM rooms")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]bool{}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			m[c] = true
		}
		return m
	}
	waitFor(t, "the empty rooms to be purged", func() bool {
		m := consumers()
		return !m["empty"] && !m["announced"]
	})
	if m := consumers(); len(m) != 3 || !m["talked"] || !m["here"] || !m["young"] {
		t.Fatalf("rooms left: %v, want talked, here and young", m)
	}
}
