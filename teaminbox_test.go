package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// roomList reads GET path (a rooms list) and returns the consumers.
func roomList(t *testing.T, ts *testServer, c *testClient, path string) []RoomSummary {
	t.Helper()
	var page struct {
		Rooms []RoomSummary `json:"rooms"`
	}
	ts.getJSON(c, path, http.StatusOK, &page)
	return page.Rooms
}

func consumersOf(rooms []RoomSummary) string {
	var s []string
	for _, r := range rooms {
		s = append(s, r.Consumer)
	}
	return strings.Join(s, ",")
}

// roomOfFrame is the RoomSummary of a room_updated frame.
func roomOfFrame(f frame) frame {
	r, _ := f["room"].(map[string]any)
	return r
}

// TestRoomStatusAndAssignment: PATCH sets status and assignee, answers
// the RoomSummary and tells every agent socket of the business
// (room_updated); the list filters by status and assignee and lists only
// rooms with a message (REST and fetch_rooms); a visitor writing in a
// resolved room reopens it; bad fields are 400 and change nothing.
func TestRoomStatusAndAssignment(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	al, alID := ts.join(owner, "al", "Al")
	ownerInbox := ts.dialWS("/ws/room/acme", owner)
	alInbox := ts.dialWS("/ws/room/acme", al)

	ts.dialWS("/ws/chat/acme/quiet", nil) // no message: not a conversation
	ownerInbox.expect("new_room")
	ownerInbox.expect("presence")
	alInbox.expect("new_room")
	alInbox.expect("presence")
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	for _, in := range []*wsClient{ownerInbox, alInbox} {
		in.expect("new_room")
		in.expect("presence")
	}
	vis.say("hello")
	for _, in := range []*wsClient{ownerInbox, alInbox} {
		in.expect("new_message")
	}

	if got := consumersOf(roomList(t, ts, owner, "/chatbot/api/rooms")); got != "v1" {
		t.Fatalf("list = %q, want only the room with a message", got)
	}
	if rooms := ownerInbox.probeRooms()["rooms"].([]any); len(rooms) != 1 {
		t.Fatalf("fetch_rooms = %v", rooms)
	} else if r := rooms[0].(map[string]any); r["status"] != "open" || r["assignee"] != nil {
		t.Fatalf("fetch_rooms room = %v", r)
	}

	// Assign to Al: the answer and both inboxes say so.
	r := owner.must(http.StatusOK, "PATCH", "/chatbot/api/rooms/v1", map[string]any{"assignee_id": alID})
	if a, _ := r.JSON["assignee"].(map[string]any); a == nil || int64(a["id"].(float64)) != alID || a["name"] != "Al" || r.JSON["status"] != "open" || r.JSON["consumer"] != "v1" {
		t.Fatalf("PATCH answer = %s", r.Body)
	}
	for _, in := range []*wsClient{ownerInbox, alInbox} {
		f := in.expect("room_updated")
		if a, _ := roomOfFrame(f)["assignee"].(map[string]any); a == nil || a["name"] != "Al" || roomOfFrame(f)["consumer"] != "v1" {
			t.Fatalf("room_updated = %v", f)
		}
		if lm, _ := roomOfFrame(f)["last_message"].(map[string]any); lm == nil || lm["content"] != "hello" {
			t.Fatalf("room_updated without the last message: %v", f)
		}
	}
	// The visitor hears nothing of it.
	vis.probe()

	for _, c := range []struct {
		who  *testClient
		path string
		want string
	}{
		{al, "/chatbot/api/rooms?assignee=me", "v1"},
		{owner, "/chatbot/api/rooms?assignee=me", ""},
		{owner, "/chatbot/api/rooms?assignee=none", ""},
		{owner, "/chatbot/api/rooms?assignee=" + strconv.FormatInt(alID, 10), "v1"},
		{owner, "/chatbot/api/rooms?status=resolved", ""},
		{owner, "/chatbot/api/rooms?status=all", "v1"},
	} {
		if got := consumersOf(roomList(t, ts, c.who, c.path)); got != c.want {
			t.Errorf("%s = %q, want %q", c.path, got, c.want)
		}
	}
	alInbox.send(map[string]any{"command": "fetch_rooms", "assignee": "me"})
	if rooms := alInbox.expect("rooms")["rooms"].([]any); len(rooms) != 1 {
		t.Errorf("fetch_rooms assignee me = %v", rooms)
	}
	ownerInbox.send(map[string]any{"command": "fetch_rooms", "assignee": "none"})
	if rooms := ownerInbox.expect("rooms")["rooms"].([]any); len(rooms) != 0 {
		t.Errorf("fetch_rooms assignee none = %v", rooms)
	}

	// Resolve: gone from the default list, in resolved.
	r = al.must(http.StatusOK, "PATCH", "/chatbot/api/rooms/v1", map[string]any{"status": "resolved"})
	if r.JSON["status"] != "resolved" {
		t.Fatalf("PATCH resolved = %s", r.Body)
	}
	for _, in := range []*wsClient{ownerInbox, alInbox} {
		if f := in.expect("room_updated"); roomOfFrame(f)["status"] != "resolved" {
			t.Fatalf("room_updated = %v", f)
		}
	}
	if got := consumersOf(roomList(t, ts, owner, "/chatbot/api/rooms")); got != "" {
		t.Errorf("open list after resolve = %q", got)
	}
	if got := consumersOf(roomList(t, ts, owner, "/chatbot/api/rooms?status=resolved")); got != "v1" {
		t.Errorf("resolved list = %q", got)
	}
	ownerInbox.send(map[string]any{"command": "fetch_rooms", "status": "resolved"})
	if rooms := ownerInbox.expect("rooms")["rooms"].([]any); len(rooms) != 1 {
		t.Errorf("fetch_rooms resolved = %v", rooms)
	}

	// The visitor writes again: the room opens, live.
	vis.say("one more thing")
	for _, in := range []*wsClient{ownerInbox, alInbox} {
		in.expect("new_message")
		f := in.expect("room_updated")
		if room := roomOfFrame(f); room["status"] != "open" || room["assignee"] == nil {
			t.Fatalf("reopen room_updated = %v", f)
		}
	}
	// Writing in an open room sends no room_updated.
	vis.say("and another")
	for _, in := range []*wsClient{ownerInbox, alInbox} {
		in.expect("new_message")
		in.probeRooms()
	}

	// Unassign.
	r = owner.must(http.StatusOK, "PATCH", "/chatbot/api/rooms/v1", map[string]any{"assignee_id": nil})
	if r.JSON["assignee"] != nil {
		t.Fatalf("unassign = %s", r.Body)
	}
	ownerInbox.expect("room_updated")
	alInbox.expect("room_updated")
	if got := consumersOf(roomList(t, ts, owner, "/chatbot/api/rooms?assignee=none")); got != "v1" {
		t.Errorf("unassigned list = %q", got)
	}

	// Bad input: 400 with the field, nothing changes, nobody hears.
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"status": "closed"}, "status"},
		{map[string]any{"status": 1}, "status"},
		{map[string]any{"assignee_id": "al"}, "assignee_id"},
		{map[string]any{"assignee_id": 0}, "assignee_id"},
		{map[string]any{"assignee_id": 999999}, "assignee_id"},
		{map[string]any{"status": "resolved", "assignee_id": -1}, "assignee_id"},
		{map[string]any{}, "status"},
	} {
		r := owner.must(http.StatusBadRequest, "PATCH", "/chatbot/api/rooms/v1", c.body)
		if r.FieldError(c.field) == "" {
			t.Errorf("PATCH %v: no error for %s: %s", c.body, c.field, r.Body)
		}
	}
	owner.must(http.StatusBadRequest, "PATCH", "/chatbot/api/rooms/v1", "not an object")
	owner.must(http.StatusNotFound, "PATCH", "/chatbot/api/rooms/nobody", map[string]any{"status": "resolved"})
	if got := roomList(t, ts, owner, "/chatbot/api/rooms"); len(got) != 1 || got[0].Status != "open" || got[0].Assignee != nil {
		t.Errorf("after bad PATCHes: %+v", got)
	}
	for _, q := range []string{"status=closed", "assignee=someone", "assignee=0"} {
		if owner.must(http.StatusBadRequest, "GET", "/chatbot/api/rooms?"+q, nil).Detail() == "" {
			t.Errorf("%s: no detail", q)
		}
	}
	for _, bad := range []map[string]any{{"status": "closed"}, {"status": 3}, {"assignee": "x"}, {"assignee": true}} {
		req := map[string]any{"command": "fetch_rooms"}
		for k, v := range bad {
			req[k] = v
		}
		ownerInbox.send(req)
		ownerInbox.expectError("bad_field")
	}
	ownerInbox.probeRooms()
	alInbox.probeRooms()
}

// TestTeamInboxAcrossBusinesses: an agent of one business cannot see,
// change or assign another's rooms, nor assign to another's agent, and
// the other business hears nothing.
func TestTeamInboxAcrossBusinesses(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ownerA := ts.client().signup("alpha")
	agentA, agentAID := ts.join(ownerA, "al", "Al")
	ownerB := ts.client().signup("beta")
	_, agentBID := ts.join(ownerB, "bee", "Bee")
	ts.dialWS("/ws/chat/beta/vb", nil).say("secret of beta")
	ts.dialWS("/ws/chat/alpha/va", nil).say("hello alpha")
	bInbox := ts.dialWS("/ws/room/beta", ownerB)

	for _, c := range []*testClient{agentA, ownerA} {
		c.must(http.StatusNotFound, "PATCH", "/chatbot/api/rooms/vb", map[string]any{"status": "resolved"})
		c.must(http.StatusNotFound, "PATCH", "/chatbot/api/rooms/vb", map[string]any{"assignee_id": agentAID})
		for _, q := range []string{"status=all", "assignee=" + strconv.FormatInt(agentBID, 10), "status=resolved"} {
			if got := consumersOf(roomList(t, ts, c, "/chatbot/api/rooms?"+q)); strings.Contains(got, "vb") {
				t.Errorf("A lists B's room with %s: %s", q, got)
			}
		}
		var vis struct {
			Visitors []VisitorJSON `json:"visitors"`
		}
		ts.getJSON(c, "/chatbot/api/visitors", http.StatusOK, &vis)
		for _, v := range vis.Visitors {
			if v.Consumer == "vb" {
				t.Errorf("A sees B's visitor")
			}
		}
		// Assigning A's room to B's agent is refused.
		r := c.must(http.StatusBadRequest, "PATCH", "/chatbot/api/rooms/va", map[string]any{"assignee_id": agentBID})
		if r.FieldError("assignee_id") == "" {
			t.Errorf("assign to B's agent: %s", r.Body)
		}
	}
	// B's room is untouched and B heard nothing.
	if got := roomList(t, ts, ownerB, "/chatbot/api/rooms"); len(got) != 1 || got[0].Status != "open" || got[0].Assignee != nil {
		t.Errorf("B's room: %+v", got)
	}
	bInbox.probeRooms()
	// Signed out: 401.
	ts.client().must(http.StatusUnauthorized, "PATCH", "/chatbot/api/rooms/va", map[string]any{"status": "resolved"})
	ts.client().must(http.StatusUnauthorized, "GET", "/chatbot/api/visitors", nil)
}

// TestVisitorsOnline: GET /chatbot/api/visitors lists the visitors with a
// chat socket open now, with or without messages.
func TestVisitorsOnline(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	list := func() map[string]bool {
		var vis struct {
			Visitors []VisitorJSON `json:"visitors"`
		}
		ts.getJSON(owner, "/chatbot/api/visitors", http.StatusOK, &vis)
		m := map[string]bool{}
		for _, v := range vis.Visitors {
			if !v.Online || string(v.Visitor) != "null" {
				t.Errorf("visitor entry %+v", v)
			}
			m[v.Consumer] = v.HasMessages
		}
		return m
	}
	if m := list(); len(m) != 0 {
		t.Fatalf("visitors = %v", m)
	}
	a := ts.dialWS("/ws/chat/acme/a", nil)
	b := ts.dialWS("/ws/chat/acme/b", nil)
	b.say("hi")
	if m := list(); len(m) != 2 || m["a"] || !m["b"] {
		t.Fatalf("visitors = %v, want a (no messages) and b (messages)", m)
	}
	// An agent's chat socket is not a visitor.
	ts.dialWS("/ws/chat/acme/c", owner)
	a.conn.CloseNow()
	waitFor(t, "a to leave", func() bool { m := list(); _, in := m["a"]; return !in && len(m) == 1 })
}

// TestPrivateNotes: an agent's note reaches agent sockets only. The
// visitor never gets it: not live, not in fetch_messages, not through a
// client_id collision; a visitor's "private" is ignored. Agents get it
// on every path, and exports include it, marked.
func TestPrivateNotes(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	al, _ := ts.join(owner, "al", "Al")
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	vis.say("hello")
	alInbox := ts.dialWS("/ws/room/acme", al)
	ownerChat := ts.dialWS("/ws/chat/acme/v1", owner)
	alChat := ts.dialWS("/ws/chat/acme/v1", al)

	ownerChat.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "VIP customer, be nice", "private": true, "client_id": "note-1"}})
	for _, c := range []*wsClient{ownerChat, alChat, alInbox} {
		m := c.expect("new_message").msg()
		if m["private"] != true || m["content"] != "VIP customer, be nice" {
			t.Fatalf("%s: note = %v", c.name, m)
		}
	}
	// Not live: the visitor's next frame is the answer to its probe.
	vis.send(map[string]any{"command": "fetch_messages"})
	msgs := vis.expect("messages")["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["content"] != "hello" {
		t.Fatalf("visitor's fetch_messages = %v", msgs)
	}
	// A public answer comes through; the visitor sees it and no note.
	helpID := alChat.say("Hi! How can I help?").num("id")
	if m := vis.expect("new_message").msg(); m["content"] != "Hi! How can I help?" || m["private"] != nil {
		t.Fatalf("visitor got %v", m)
	}
	ownerChat.expect("new_message")
	alInbox.expect("new_message")
	// Another note after it: the room's last message is a note.
	alChat.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "second note", "private": true}})
	noteID := alChat.expect("new_message").msg().num("id")
	ownerChat.expect("new_message")
	alInbox.expect("new_message")
	// Al reads up to the note: the agents hear the note's id, the visitor
	// the last message it can see.
	alChat.send(map[string]any{"command": "read", "up_to": noteID})
	for _, c := range []*wsClient{ownerChat, alInbox} {
		if f := c.expect("read"); f.num("up_to") != noteID {
			t.Fatalf("%s: read = %v, want up_to %d", c.name, f, noteID)
		}
	}
	if f := vis.expect("read"); f.num("up_to") != helpID {
		t.Fatalf("visitor's read = %v, want up_to %d (not the note's %d)", f, helpID, noteID)
	}
	vis.send(map[string]any{"command": "fetch_messages", "limit": 200})
	for _, m := range vis.expect("messages")["messages"].([]any) {
		if m.(map[string]any)["private"] != nil || strings.Contains(m.(map[string]any)["content"].(string), "note") || strings.Contains(m.(map[string]any)["content"].(string), "VIP") {
			t.Fatalf("visitor's history has a note: %v", m)
		}
	}
	// Paging from the visitor's side skips notes too.
	vis.send(map[string]any{"command": "fetch_messages", "limit": 1})
	if m := vis.expect("messages")["messages"].([]any); len(m) != 1 || m[0].(map[string]any)["content"] != "Hi! How can I help?" {
		t.Fatalf("visitor's last message = %v", m)
	}
	// The visitor reusing the note's client_id gets nothing of it back.
	vis.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "guess", "client_id": "note-1"}})
	vis.probe()
	// A visitor's "private" is ignored: its message is public.
	vis.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "not a secret", "private": true}})
	if m := vis.expect("new_message").msg(); m["private"] != nil {
		t.Fatalf("visitor's message marked private: %v", m)
	}
	if m := alChat.expect("new_message").msg(); m["private"] != nil || m["content"] != "not a secret" {
		t.Fatalf("agent got %v", m)
	}
	ownerChat.expect("new_message")
	alInbox.expect("new_message")
	// A bad "private" on an agent's socket is refused.
	alChat.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "x", "private": "yes"}})
	alChat.expectError("bad_field")

	// Agents see notes everywhere: fetch_messages, REST history, the
	// room list, fetch_rooms, exports (marked).
	alChat.send(map[string]any{"command": "fetch_messages"})
	notes := 0
	for _, m := range alChat.expect("messages")["messages"].([]any) {
		if m.(map[string]any)["private"] == true {
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("agent's fetch_messages has %d notes, want 2", notes)
	}
	var hist struct{ Messages []Message }
	ts.getJSON(al, "/chatbot/api/rooms/v1/messages", http.StatusOK, &hist)
	notes = 0
	for _, m := range hist.Messages {
		if m.Private {
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("REST history has %d notes", notes)
	}
	exp := al.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/export", nil)
	if !strings.Contains(string(exp.Body), `"private":true`) || !strings.Contains(string(exp.Body), "VIP customer") {
		t.Errorf("JSON export without the note: %s", exp.Body)
	}
	for _, f := range []string{"text", "html"} {
		b := string(al.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/export?format="+f, nil).Body)
		if !strings.Contains(b, "(private note)") || !strings.Contains(b, "VIP customer") {
			t.Errorf("%s export without the marked note: %s", f, b)
		}
	}
	// The visitor's new_room on the room socket carries no messages.
	rs := ts.dialWS("/ws/room/acme", nil)
	rs.send(map[string]any{"command": "new_room", "consumer": "v1"})
	rs.expect("room_exists")
	// The visitor, reconnecting, still sees no note.
	vis2 := ts.dialWS("/ws/chat/acme/v1", nil)
	vis2.send(map[string]any{"command": "fetch_messages"})
	for _, m := range vis2.expect("messages")["messages"].([]any) {
		if m.(map[string]any)["private"] != nil {
			t.Fatalf("reconnected visitor got a note: %v", m)
		}
	}
	vis.probe()
}

// TestRemovedAgentUnassigns: removing an agent leaves the rooms assigned
// to them unassigned (ON DELETE SET NULL), listed under "none".
func TestRemovedAgentUnassigns(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	_, alID := ts.join(owner, "al", "Al")
	ts.dialWS("/ws/chat/acme/v1", nil).say("hello")
	owner.must(http.StatusOK, "PATCH", "/chatbot/api/rooms/v1", map[string]any{"assignee_id": alID})
	owner.must(http.StatusNoContent, "DELETE", "/accounts/api/agents/"+strconv.FormatInt(alID, 10), nil)
	if got := roomList(t, ts, owner, "/chatbot/api/rooms?assignee=none"); len(got) != 1 || got[0].Assignee != nil {
		t.Fatalf("after removing the assignee: %+v", got)
	}
}
