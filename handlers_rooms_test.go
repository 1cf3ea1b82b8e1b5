package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

type roomsPage struct {
	Rooms   []RoomSummary `json:"rooms"`
	HasMore bool          `json:"has_more"`
}

type messagesPage struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

// TestRoomsAPI: the inbox's REST side — list, paging, history, export,
// delete.
func TestRoomsAPI(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	// A clock that moves a second per reading, so that no two rooms share
	// a last_activity (paging by last_activity cannot split ties).
	var mu sync.Mutex
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ts.DB.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	admin := ts.client().signup("acme")
	other := ts.client().signup("other")

	// Five rooms; each visitor writes (i+1) messages, one stays online.
	var online *wsClient
	for i := range 5 {
		v := ts.dialWS(fmt.Sprintf("/ws/chat/acme/v%d", i), nil)
		for j := range i + 1 {
			v.say(fmt.Sprintf("v%d says %d", i, j))
		}
		if i == 2 {
			online = v
		} else {
			v.conn.CloseNow()
		}
	}
	waitFor(t, "sockets to close", func() bool { return ts.Server.hub.Count() == 1 })
	reg := ts.dialWS("/ws/room/acme", nil)
	reg.send(map[string]any{"command": "new_room", "consumer": "v2", "email": "v2@example.com"})
	reg.expect("room_exists")

	var page roomsPage
	ts.getJSON(admin, "/chatbot/api/rooms?limit=2", http.StatusOK, &page)
	if len(page.Rooms) != 2 || !page.HasMore || page.Rooms[0].Consumer != "v4" || page.Rooms[1].Consumer != "v3" {
		t.Fatalf("first page = %+v", page)
	}
	r4 := page.Rooms[0]
	if r4.Unread != 5 || r4.LastMessage == nil || r4.LastMessage.Content != "v4 says 4" || r4.LastMessage.Room != "acme v4" || r4.Online {
		t.Fatalf("room v4 = %+v (last %+v)", r4, r4.LastMessage)
	}
	var all []RoomSummary
	all = append(all, page.Rooms...)
	for page.HasMore {
		before := page.Rooms[len(page.Rooms)-1].LastActivity
		page = roomsPage{}
		ts.getJSON(admin, "/chatbot/api/rooms/?limit=2&before="+url.QueryEscape(before), http.StatusOK, &page)
		all = append(all, page.Rooms...)
	}
	if len(all) != 5 {
		t.Fatalf("paged through %d rooms, want 5", len(all))
	}
	for i, r := range all {
		if want := fmt.Sprintf("v%d", 4-i); r.Consumer != want {
			t.Fatalf("room %d = %s, want %s", i, r.Consumer, want)
		}
		if r.Consumer == "v2" && (!r.Online || r.ConsumerEmail != "v2@example.com") {
			t.Fatalf("room v2 = %+v", r)
		}
	}
	ts.getJSON(other, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 0 {
		t.Fatalf("another account sees %d rooms", len(page.Rooms))
	}
	ts.getJSON(nil, "/chatbot/api/rooms", http.StatusUnauthorized, nil)
	ts.getJSON(admin, "/chatbot/api/rooms?limit=0", http.StatusBadRequest, nil)
	ts.getJSON(admin, "/chatbot/api/rooms?limit=x", http.StatusBadRequest, nil)
	ts.getJSON(admin, "/chatbot/api/rooms?before=yesterday", http.StatusBadRequest, nil)
	ts.getJSON(admin, "/chatbot/api/rooms?limit=1000", http.StatusOK, &page)
	if len(page.Rooms) != 5 {
		t.Fatalf("limit over 200 is capped, not refused: %d rooms", len(page.Rooms))
	}

	// History.
	var msgs messagesPage
	ts.getJSON(admin, "/chatbot/api/rooms/v4/messages?limit=3", http.StatusOK, &msgs)
	if len(msgs.Messages) != 3 || !msgs.HasMore || msgs.Messages[0].Content != "v4 says 2" || msgs.Messages[2].Content != "v4 says 4" {
		t.Fatalf("messages = %+v", msgs)
	}
	ts.getJSON(admin, fmt.Sprintf("/chatbot/api/rooms/v4/messages/?before=%d", msgs.Messages[0].ID), http.StatusOK, &msgs)
	if len(msgs.Messages) != 2 || msgs.HasMore || msgs.Messages[0].Content != "v4 says 0" {
		t.Fatalf("older messages = %+v", msgs)
	}
	ts.getJSON(admin, "/chatbot/api/rooms/nobody/messages", http.StatusNotFound, nil)
	ts.getJSON(other, "/chatbot/api/rooms/v4/messages", http.StatusNotFound, nil)
	ts.getJSON(admin, "/chatbot/api/rooms/v4/messages?before=x", http.StatusBadRequest, nil)
	ts.getJSON(nil, "/chatbot/api/rooms/v4/messages", http.StatusUnauthorized, nil)

	// Export.
	var export roomExport
	resp := ts.getJSON(admin, "/chatbot/api/rooms/v4/export", http.StatusOK, &export)
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "v4") {
		t.Fatalf("Content-Disposition = %q", cd)
	}
	if export.Consumer != "v4" || export.Username != "acme" || len(export.Messages) != 5 || export.Messages[0].Content != "v4 says 0" {
		t.Fatalf("export = %+v", export)
	}

	// Delete: the room, its messages and its files are gone.
	up, body := ts.upload(nil, "acme v2", "photo.gif", gifBytes)
	if up.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.StatusCode, body)
	}
	var fm Message
	json.Unmarshal(body, &fm)
	online.expect("new_message")
	ts.getJSON(nil, fm.File, http.StatusOK, nil)
	del := func(c *testClient, path string) int {
		req, _ := http.NewRequest(http.MethodDelete, ts.URL+path, nil)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := del(other, "/chatbot/api/rooms/v2"); got != http.StatusNotFound {
		t.Fatalf("delete by another account: %d", got)
	}
	if got := del(admin, "/chatbot/api/rooms/v2"); got != http.StatusNoContent {
		t.Fatalf("delete: %d", got)
	}
	if got := del(admin, "/chatbot/api/rooms/v2/"); got != http.StatusNotFound {
		t.Fatalf("second delete: %d", got)
	}
	ts.getJSON(nil, fm.File, http.StatusNotFound, nil)
	ts.getJSON(admin, "/chatbot/api/rooms/v2/messages", http.StatusNotFound, nil)
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.consumer = 'v2'").Scan(&n)
	var files int
	ts.DB.reader.QueryRow("SELECT count(*) FROM files").Scan(&files)
	if n != 0 || files != 0 {
		t.Fatalf("after delete: %d messages, %d files", n, files)
	}
	// The visitor still connected to the deleted room is told so.
	online.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "hello?"}})
	online.expectError("not_found")
}

// gifBytes is a 1×1 GIF.
var gifBytes = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// TestChatFiles: uploads by the visitor and by the admin, broadcast and
// serving rules, limits.
func TestChatFiles(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.MaxUpload = 1000 })
	admin := ts.client().signup("acme")
	other := ts.client().signup("other")
	inbox := ts.dialWS("/ws/room/acme", admin)
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	inbox.expect("new_room")
	inbox.expect("presence")

	// A visitor's image: inline.
	resp, body := ts.upload(nil, "acme v1", "../../cat picture.gif", gifBytes)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "image/gif" || m.Content != "cat picture.gif" || m.Author != "v1" || m.Room != "acme v1" ||
		!strings.HasPrefix(m.File, "/files/") || m.ID < 1 {
		t.Fatalf("message = %+v", m)
	}
	token := strings.Split(m.File, "/")[2]
	if len(token) != 32 {
		t.Fatalf("token %q is not 128 bits of hex", token)
	}
	for _, s := range []*wsClient{vis, inbox} {
		if got := s.expect("new_message").msg(); got.num("id") != m.ID || got.str("file") != m.File || got.str("type") != "image/gif" {
			t.Fatalf("broadcast = %v", got)
		}
	}
	r := ts.getJSON(nil, m.File, http.StatusOK, nil)
	if r.Header.Get("Content-Type") != "image/gif" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "inline") ||
		r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("image headers = %v", r.Header)
	}

	// The admin's HTML file: an attachment, never rendered.
	resp, body = ts.upload(admin, "acme v1", "page.html", []byte("<html><script>alert(1)</script></html>"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	json.Unmarshal(body, &m)
	if m.Author != "acme" || m.Type != "text/html" {
		t.Fatalf("admin upload = %+v", m)
	}
	vis.expect("new_message")
	inbox.expect("new_message")
	r = ts.getJSON(nil, m.File, http.StatusOK, nil)
	if !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("html headers = %v", r.Header)
	}

	// Signed in as another account is just a visitor.
	resp, body = ts.upload(other, "acme v1", "a.txt", []byte("hello"))
	json.Unmarshal(body, &m)
	if resp.StatusCode != http.StatusCreated || m.Author != "v1" {
		t.Fatalf("other account upload: %d %+v", resp.StatusCode, m)
	}
	vis.expect("new_message")
	inbox.expect("new_message")

	for _, tc := range []struct {
		name, room string
		data       []byte
		want       int
	}{
		{"too large", "acme v1", make([]byte, 1001), http.StatusRequestEntityTooLarge},
		{"no file", "acme v1", nil, http.StatusBadRequest},
		{"empty file", "acme v1", []byte{}, http.StatusBadRequest},
		{"no room", "", []byte("x"), http.StatusBadRequest},
		{"bad room", "acme", []byte("x"), http.StatusBadRequest},
		{"bad consumer", "acme bad!id", []byte("x"), http.StatusBadRequest},
		{"unknown account", "nobody v1", []byte("x"), http.StatusNotFound},
		{"unknown room", "acme v9", []byte("x"), http.StatusNotFound},
	} {
		resp, body := ts.upload(nil, tc.room, "f.bin", tc.data)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.want, body)
		}
	}
	vis.probe() // the refused uploads broadcast nothing
	inbox.probeRooms()

	// Names outside ASCII survive the URL round trip.
	resp, body = ts.upload(nil, "acme v1", "résumé 2025 (final).pdf", []byte("%PDF-1.4 hello"))
	json.Unmarshal(body, &m)
	if resp.StatusCode != http.StatusCreated || m.Type != "application/pdf" || m.Content != "résumé 2025 (final).pdf" {
		t.Fatalf("pdf upload: %d %+v", resp.StatusCode, m)
	}
	vis.expect("new_message")
	inbox.expect("new_message")
	r = ts.getJSON(nil, m.File, http.StatusOK, nil)
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "r%C3%A9sum%C3%A9") {
		t.Fatalf("pdf Content-Disposition = %q", cd)
	}

	ts.getJSON(nil, "/files/"+token+"/other-name.gif", http.StatusNotFound, nil)
	ts.getJSON(nil, "/files/00000000000000000000000000000000/x", http.StatusNotFound, nil)
	ts.getJSON(nil, "/files/short/x", http.StatusNotFound, nil)
}

// TestChatShapes: Room, RoomSummary and Message carry exactly SPEC's
// fields, every one present (last_message null for a room without
// messages), wherever they appear.
func TestChatShapes(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	keys := func(what string, v any, want ...string) {
		t.Helper()
		if f, ok := v.(frame); ok {
			v = map[string]any(f)
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T (%v), want an object", what, v, v)
		}
		var got []string
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s has %v, want %v", what, got, want)
		}
	}
	roomKeys := []string{"consumer", "consumer_email", "messages", "unread", "online", "created", "last_activity", "status", "assignee", "name", "visitor"}
	summaryKeys := []string{"consumer", "consumer_email", "last_message", "unread", "online", "created", "last_activity", "status", "assignee", "name", "visitor"}
	msgKeys := []string{"id", "author", "content", "type", "file", "room", "created"}

	ts.dialWS("/ws/chat/acme/empty", nil)
	keys("new_room room", inbox.expect("new_room")["room"], roomKeys...)
	inbox.expect("presence")
	v := ts.dialWS("/ws/chat/acme/v", nil)
	inbox.expect("new_room")
	inbox.expect("presence")
	keys("message", v.say("hi"), msgKeys...)
	keys("inbox message", inbox.expect("new_message").msg(), msgKeys...)
	for _, r := range inbox.probeRooms()["rooms"].([]any) {
		keys("rooms room", r, roomKeys...)
		for _, m := range r.(map[string]any)["messages"].([]any) {
			keys("rooms message", m, msgKeys...)
		}
	}
	var page map[string]any
	ts.getJSON(admin, "/chatbot/api/rooms", http.StatusOK, &page)
	keys("rooms page", page, "rooms", "has_more")
	for _, r := range page["rooms"].([]any) {
		keys("summary", r, summaryKeys...)
		last := r.(map[string]any)["last_message"]
		switch r.(map[string]any)["consumer"] {
		case "empty":
			if last != nil {
				t.Fatalf("last_message of an empty room = %v, want null", last)
			}
		default:
			keys("last_message", last, msgKeys...)
		}
	}
	page = nil
	ts.getJSON(admin, "/chatbot/api/rooms/v/messages", http.StatusOK, &page)
	keys("messages page", page, "messages", "has_more")
	page = nil
	ts.getJSON(admin, "/chatbot/api/rooms/empty/messages", http.StatusOK, &page)
	if msgs, ok := page["messages"].([]any); !ok || len(msgs) != 0 {
		t.Fatalf("messages of an empty room = %v, want []", page["messages"])
	}
	v.send(map[string]any{"command": "fetch_messages"})
	keys("messages frame", v.expect("messages"), "command", "messages", "has_more")
}

// TestRoomsPagingTies: rooms whose last activity falls in the same
// millisecond (one group commit gives every room it touches the same
// time) are neither lost nor repeated when a page boundary falls among
// them.
func TestRoomsPagingTies(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	var mu sync.Mutex
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ts.DB.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	tick := func() {
		mu.Lock()
		clock = clock.Add(time.Second)
		mu.Unlock()
	}
	admin := ts.client().signup("acme")
	// a at T1; b, c, d, e at T2; x at T3; then f, g, h at T4.
	for _, step := range []string{"a", "", "b", "c", "d", "e", "", "x", "", "f", "g", "h"} {
		if step == "" {
			tick()
			continue
		}
		ts.dialWS("/ws/chat/acme/"+step, nil).conn.CloseNow()
	}
	ts.seedMessages(t)
	for _, limit := range []int{1, 2, 3, 50} {
		var seen []string
		var page roomsPage
		path := fmt.Sprintf("/chatbot/api/rooms?limit=%d", limit)
		for i := 0; ; i++ {
			page = roomsPage{}
			ts.getJSON(admin, path, http.StatusOK, &page)
			for _, r := range page.Rooms {
				seen = append(seen, r.Consumer)
			}
			if !page.HasMore || i > 20 {
				break
			}
			if len(page.Rooms) == 0 {
				t.Fatalf("limit %d: an empty page with has_more", limit)
			}
			path = fmt.Sprintf("/chatbot/api/rooms?limit=%d&before=%s", limit, url.QueryEscape(page.Rooms[len(page.Rooms)-1].LastActivity))
		}
		sort.Strings(seen)
		if got := strings.Join(seen, ","); got != "a,b,c,d,e,f,g,h,x" {
			t.Errorf("limit %d: paged through %s, want every room once", limit, got)
		}
	}
}

// TestChatFileErrorsAreJSON: every error of the files path is the API's
// JSON, the range and precondition errors of file serving included.
func TestChatFileErrorsAreJSON(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/v", nil)
	resp, body := ts.upload(nil, "acme v", "a.txt", []byte("hello, world"))
	var m Message
	json.Unmarshal(body, &m)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		header, value string
		want          int
	}{
		{"Range", "bytes=1000-2000", http.StatusRequestedRangeNotSatisfiable},
		{"If-Match", `"nope"`, http.StatusPreconditionFailed},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+m.File, nil)
		req.Header.Set(tc.header, tc.value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || err != nil || got["detail"] == nil {
			t.Errorf("%s: %d %q %v (%v), want %d with a JSON detail", tc.header, resp.StatusCode, resp.Header.Get("Content-Type"), got, err, tc.want)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", tc.header)
		}
	}
	// A good range still works.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+m.File, nil)
	req.Header.Set("Range", "bytes=0-4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "hello" {
		t.Fatalf("range: %d %q", resp.StatusCode, b)
	}
}

// TestDeleteRoomErasesBytes: after DELETE answers, the conversation's text
// and its file are in neither the database file nor the WAL (finding 5 of
// issue 12: without secure_delete and an emptied WAL the text stayed
// readable in both, and so in every backup).
func TestDeleteRoomErasesBytes(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	marker := "erase-me-" + newFileToken()
	keep := "keep-me-" + newFileToken()

	v := ts.dialWS("/ws/chat/acme/v1", nil)
	for i := range 20 {
		v.say(fmt.Sprintf("%s message %d", marker, i))
	}
	file := bytes.Repeat([]byte(marker+" in the file\n"), 2000) // overflow pages
	if resp, body := ts.upload(nil, "acme v1", marker+".txt", file); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	other := ts.dialWS("/ws/chat/acme/v2", nil)
	other.say(keep)
	v.conn.CloseNow()

	files := func() map[string][]byte {
		out := map[string][]byte{}
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(ts.Path + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			out["livechat.db"+suffix] = b
		}
		return out
	}
	found := func(m map[string][]byte, s string) (where []string) {
		for name, b := range m {
			if bytes.Contains(b, []byte(s)) {
				where = append(where, name)
			}
		}
		return where
	}
	// The search finds the text while it is stored.
	if len(found(files(), marker)) == 0 {
		t.Fatal("the marker is in neither file before the delete: the search proves nothing")
	}

	admin.must(http.StatusNoContent, "DELETE", "/chatbot/api/rooms/v1", nil)
	after := files()
	if where := found(after, marker); len(where) > 0 {
		t.Errorf("the deleted conversation's text is still in %v", where)
	}
	if where := found(after, keep); len(where) == 0 {
		t.Errorf("the other conversation's text is gone from both files")
	}
	// Everything else is intact.
	admin.must(http.StatusNotFound, "GET", "/chatbot/api/rooms/v1/messages", nil)
	r := admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/v2/messages", nil)
	if msgs, _ := r.JSON["messages"].([]any); len(msgs) != 1 {
		t.Errorf("v2 has %d messages, want 1", len(msgs))
	}
}
