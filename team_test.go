package main

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// invite makes an invitation as owner and returns its token.
func (c *testClient) invite(body map[string]string) string {
	c.t.Helper()
	r := c.must(http.StatusCreated, "POST", "/accounts/api/invites", body)
	inv, _ := r.JSON["invite"].(map[string]any)
	tok, _ := inv["token"].(string)
	if tok == "" {
		c.t.Fatalf("invite without token: %s", r.Body)
	}
	return tok
}

// join makes an agent of owner's business through an invitation and
// returns the agent's client (signed in) and user id.
func (ts *testServer) join(owner *testClient, username, name string) (*testClient, int64) {
	ts.t.Helper()
	tok := owner.invite(map[string]string{"name": name})
	agent := ts.client()
	r := agent.must(http.StatusCreated, "POST", "/accounts/api/join",
		map[string]string{"token": tok, "username": username, "password": testPassword, "name": name})
	u := r.JSON["user"].(map[string]any)
	return agent, int64(u["id"].(float64))
}

// TestMigrateTeamKeepsAccounts: a database of schema version 1 with an
// account, its rooms and messages opens at the new version; the account
// is the owner of its business and everything still works for it.
func TestMigrateTeamKeepsAccounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := hashPassword(testPassword, 4)
	for _, q := range []string{
		migrations[0],
		"PRAGMA application_id = " + strconv.Itoa(applicationID) + "; PRAGMA user_version = 1",
		`INSERT INTO users (id, username, password_hash, email, name, created) VALUES (7, 'oldshop', '` + hash + `', 'o@example.com', '', 1700000000000)`,
		`INSERT INTO chatbots (user_id, chatbot_name, introduction_text, header_background_color, header_text_color,
			introduction_background_color, introduction_text_color, receiver_background, sender_background,
			receiver_text_color, sender_text_color, background_color, input_bar_background, input_text_color, updated)
			VALUES (7, 'Old Shop', 'Hi', '#000', '#fff', '#eee', '#111', '#eee', '#00f', '#111', '#fff', '#fff', '#fff', '#111', 1700000000000)`,
		`INSERT INTO rooms (id, user_id, consumer, unread, last_message_id, created, last_activity) VALUES (3, 7, 'v1', 1, 11, 1700000000000, 1700000001000)`,
		`INSERT INTO messages (id, room_id, author, content, created) VALUES (10, 3, 'oldshop', 'welcome', 1700000000500)`,
		`INSERT INTO messages (id, room_id, author, content, created) VALUES (11, 3, 'v1', 'hello', 1700000001000)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%v: %s", err, q)
		}
	}
	raw.Close()
	ts := &testServer{t: t, Path: path, clock: &testClock{}}
	ts.start()
	t.Cleanup(ts.Close)
	if v, _ := ts.DB.SchemaVersion(context.Background()); v != len(migrations) {
		t.Fatalf("schema version %d, want %d", v, len(migrations))
	}

	owner := ts.client()
	r := owner.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "oldshop", "password": testPassword})
	u := r.JSON["user"].(map[string]any)
	if u["id"] != float64(7) || u["role"] != "owner" || u["business"] != "oldshop" || u["name"] != "oldshop" || u["email"] != "o@example.com" {
		t.Fatalf("migrated user = %v", u)
	}
	var list struct {
		Rooms []RoomSummary `json:"rooms"`
	}
	ts.getJSON(owner, "/chatbot/api/rooms", http.StatusOK, &list)
	if len(list.Rooms) != 1 || list.Rooms[0].Unread != 1 || list.Rooms[0].LastMessage.Content != "hello" || list.Rooms[0].LastMessage.Agent != "" {
		t.Fatalf("rooms = %+v", list.Rooms)
	}
	owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]string{"chatbotName": "Still mine"})
	// The owner's sockets are an agent's; old messages have no agent.
	chat := ts.dialWS("/ws/chat/oldshop/v1", owner)
	chat.send(map[string]any{"command": "fetch_messages"})
	msgs := chat.expect("messages")["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["agent"] != nil {
		t.Fatalf("old messages = %v", msgs)
	}
	m := chat.say("still here")
	if m.str("author") != "oldshop" || m.str("agent") != "oldshop" || m.num("agent_id") != 7 {
		t.Fatalf("new message = %v", m)
	}
	// A new signup after the migration is a business of its own.
	other := ts.client().signup("newshop")
	me := other.must(http.StatusOK, "GET", "/accounts/api/me", nil).JSON["user"].(map[string]any)
	if me["business"] != "newshop" || me["role"] != "owner" {
		t.Fatalf("new owner = %v", me)
	}
}

// TestSignupPolicies: first (the default) lets only the first business
// sign up, open lets anyone, closed no one; a refusal says to ask for an
// invitation and creates nothing.
func TestSignupPolicies(t *testing.T) {
	if DefaultConfig().Signup != signupFirst {
		t.Fatalf("default signup policy %q", DefaultConfig().Signup)
	}
	body := func(u string) map[string]string { return map[string]string{"username": u, "password": testPassword} }
	refused := func(ts *testServer, username string) {
		t.Helper()
		r := ts.client().must(http.StatusForbidden, "POST", "/accounts/api/signup", body(username))
		if !strings.Contains(r.Detail(), "invitation") {
			t.Fatalf("refusal detail %q", r.Detail())
		}
		if _, err := ts.DB.UserByName(context.Background(), username); err != errNotFound {
			t.Fatalf("refused signup %s stored: %v", username, err)
		}
	}

	first := newTestServer(t, func(c *Config) { c.Signup = signupFirst })
	owner := first.client().signup("first")
	refused(first, "second")
	// An agent may still join by invitation.
	first.join(owner, "helper", "Helper")

	closed := newTestServer(t, func(c *Config) { c.Signup = signupClosed })
	refused(closed, "anyone")

	open := newTestServer(t, func(c *Config) { c.Signup = signupOpen })
	open.client().signup("one")
	open.client().signup("two")

	if _, err := parseFlags([]string{"--signup", "sometimes"}, func(string) string { return "" }, new(strings.Builder)); err == nil {
		t.Fatal("--signup sometimes accepted")
	}
	if c, err := parseFlags([]string{"--signup", "closed"}, func(string) string { return "" }, new(strings.Builder)); err != nil || c.Signup != signupClosed {
		t.Fatalf("--signup closed: %v %q", err, c.Signup)
	}
}

// TestInvitesAndJoin walks an invitation from creation to use, and every
// way a join is refused.
func TestInvitesAndJoin(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.client().signup("acme")

	r := owner.must(http.StatusCreated, "POST", "/accounts/api/invites", map[string]string{"email": "bo@example.com", "name": "Bo"})
	inv := r.JSON["invite"].(map[string]any)
	tok := inv["token"].(string)
	if len(tok) != 22 || inv["url"] != ts.URL+"/join/"+tok || inv["email"] != "bo@example.com" || inv["name"] != "Bo" {
		t.Fatalf("invite = %v", inv)
	}
	exp, err := time.Parse(time.RFC3339, inv["expires"].(string))
	if err != nil || time.Until(exp) < 7*24*time.Hour-time.Minute || time.Until(exp) > 7*24*time.Hour+time.Minute {
		t.Fatalf("expires %v (%v)", inv["expires"], err)
	}
	owner.must(http.StatusBadRequest, "POST", "/accounts/api/invites", map[string]string{"email": "not an address"})
	owner.must(http.StatusBadRequest, "POST", "/accounts/api/invites", map[string]string{"name": strings.Repeat("n", 65)})

	list := owner.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["token"] != tok {
		t.Fatalf("pending = %v", list)
	}

	// The join page shows the form; unknown tokens get the 404 page.
	page := ts.client().must(http.StatusOK, "GET", "/join/"+tok, nil)
	if !strings.Contains(string(page.Body), `data-endpoint="/accounts/api/join"`) || !strings.Contains(string(page.Body), `value="Bo"`) {
		t.Fatalf("join page: %s", page.Body)
	}
	ts.client().must(http.StatusNotFound, "GET", "/join/nope", nil)

	bo := ts.client()
	join := func(c *testClient, want int, token, username, password, name string) *response {
		t.Helper()
		return c.must(want, "POST", "/accounts/api/join", map[string]string{"token": token, "username": username, "password": password, "name": name})
	}
	join(bo, http.StatusNotFound, "unknown-token", "bo", testPassword, "Bo")
	if r := join(bo, http.StatusBadRequest, tok, "Bad Name!", "short", ""); r.FieldError("username") == "" || r.FieldError("password") == "" || r.FieldError("name") == "" {
		t.Fatalf("field errors = %s", r.Body)
	}
	join(bo, http.StatusBadRequest, tok, "bo", testPassword, strings.Repeat("x", 65))
	if r := join(bo, http.StatusConflict, tok, "acme", testPassword, "Bo"); r.FieldError("username") == "" {
		t.Fatalf("taken: %s", r.Body)
	}
	// A refused join leaves the invitation usable.
	r = join(bo, http.StatusCreated, tok, "Bo", testPassword, " Bo Berg ")
	u := r.JSON["user"].(map[string]any)
	if r.Detail() != "success" || u["username"] != "bo" || u["name"] != "Bo Berg" || u["role"] != "agent" || u["business"] != "acme" || u["email"] != "bo@example.com" {
		t.Fatalf("joined = %s", r.Body)
	}
	me := bo.must(http.StatusOK, "GET", "/accounts/api/me", nil).JSON["user"].(map[string]any)
	if me["id"] != u["id"] {
		t.Fatalf("me = %v", me)
	}
	// Single use.
	join(ts.client(), http.StatusNotFound, tok, "bo2", testPassword, "Bo")
	if l := owner.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any); len(l) != 0 {
		t.Fatalf("pending after join = %v", l)
	}
	// The agent signs in like anyone.
	ts.client().must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "bo", "password": testPassword})

	// Revoked and expired invitations are refused.
	rev := owner.invite(nil)
	owner.must(http.StatusNoContent, "DELETE", "/accounts/api/invites/"+rev, nil)
	owner.must(http.StatusNotFound, "DELETE", "/accounts/api/invites/"+rev, nil)
	join(ts.client(), http.StatusNotFound, rev, "cy", testPassword, "Cy")
	old := owner.invite(nil)
	ts.clock.Advance(7*24*time.Hour + time.Second)
	join(ts.client(), http.StatusNotFound, old, "cy", testPassword, "Cy")
	ts.client().must(http.StatusNotFound, "GET", "/join/"+old, nil)
	if l := owner.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any); len(l) != 0 {
		t.Fatalf("expired invitation listed: %v", l)
	}

	// At most 50 pending.
	for i := 0; i < maxPendingInvites; i++ {
		owner.invite(nil)
	}
	r = owner.must(http.StatusTooManyRequests, "POST", "/accounts/api/invites", map[string]string{})
	if r.Header.Get("Retry-After") == "" || !strings.Contains(r.Detail(), "50") {
		t.Fatalf("over the limit: %v %s", r.Header, r.Body)
	}
}

// TestAgentsProfileAndOwnerOnly: the agent list with online dots, the
// profile, and every owner-only action refused to an agent with 403.
func TestAgentsProfileAndOwnerOnly(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	agent, agentID := ts.join(owner, "bo", "Bo")
	ownerTok := owner.invite(nil)

	type agentEntry struct {
		UserJSON
		Online bool `json:"online"`
	}
	agents := func(c *testClient) []agentEntry {
		var out struct {
			Agents []agentEntry `json:"agents"`
		}
		ts.getJSON(c, "/accounts/api/agents", http.StatusOK, &out)
		return out.Agents
	}
	l := agents(agent)
	if len(l) != 2 || l[0].Username != "acme" || l[0].Role != "owner" || l[1].ID != agentID || l[1].Name != "Bo" || l[1].Online || l[0].Online {
		t.Fatalf("agents = %+v", l)
	}
	sock := ts.dialWS("/ws/room/acme", agent)
	if l := agents(owner); !l[1].Online || l[0].Online {
		t.Fatalf("agents with bo online = %+v", l)
	}
	sock.conn.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "bo offline", func() bool { return !agents(owner)[1].Online })

	// Profile.
	r := agent.must(http.StatusOK, "PATCH", "/accounts/api/me", map[string]any{"name": "Bo B", "email": "bo@example.com", "notify_email": false})
	if u := r.JSON["user"].(map[string]any); u["name"] != "Bo B" || u["email"] != "bo@example.com" || u["role"] != "agent" {
		t.Fatalf("patched = %v", u)
	}
	if u, _ := ts.DB.UserByID(context.Background(), agentID); u.NotifyEmail || u.Name != "Bo B" {
		t.Fatalf("stored = %+v", u)
	}
	agent.must(http.StatusOK, "PATCH", "/accounts/api/me", map[string]any{"notify_email": true})
	if u, _ := ts.DB.UserByID(context.Background(), agentID); !u.NotifyEmail || u.Email != "bo@example.com" {
		t.Fatalf("partial patch changed more: %+v", u)
	}
	for _, bad := range []map[string]any{{"name": ""}, {"name": strings.Repeat("x", 65)}, {"email": "nope"}, {"notify_email": "yes"}} {
		agent.must(http.StatusBadRequest, "PATCH", "/accounts/api/me", bad)
	}
	ts.client().must(http.StatusUnauthorized, "PATCH", "/accounts/api/me", map[string]any{"name": "x"})
	ts.client().must(http.StatusUnauthorized, "GET", "/accounts/api/agents", nil)

	// Owner-only, refused to the agent; nothing changes.
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	vis.say("hello")
	body, ctype := multipartBody(t, "picture", "p.png", tinyPNG)
	for _, req := range []struct {
		method, path string
		body         any
		headers      []string
	}{
		{"POST", "/accounts/api/invites", map[string]string{}, nil},
		{"GET", "/accounts/api/invites", nil, nil},
		{"DELETE", "/accounts/api/invites/" + ownerTok, nil, nil},
		{"DELETE", "/accounts/api/agents/" + strconv.FormatInt(agentID, 10), nil, nil},
		{"POST", "/chatbot/api", map[string]string{"chatbotName": "Hijacked"}, nil},
		{"POST", "/chatbot/api/picture", body, []string{"Content-Type", ctype}},
		{"DELETE", "/chatbot/api/picture", nil, nil},
		{"DELETE", "/chatbot/api/rooms/v1", nil, nil},
	} {
		r := agent.do(req.method, req.path, req.body, req.headers...)
		if r.Status != http.StatusForbidden || r.Detail() == "" {
			t.Errorf("%s %s by an agent: %d %s", req.method, req.path, r.Status, r.Body)
		}
	}
	if l := owner.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any); len(l) != 1 {
		t.Fatalf("invites after refusals = %v", l)
	}
	cb := agent.must(http.StatusOK, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)
	if cb["chatbotName"] != "acme" {
		t.Fatalf("chatbot changed: %v", cb)
	}
	// What every agent may do: the inbox's reads.
	agent.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/messages", nil)
	agent.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/export", nil)
	// The owner may do them all.
	owner.must(http.StatusNoContent, "DELETE", "/chatbot/api/rooms/v1", nil)
	owner.must(http.StatusForbidden, "DELETE", "/accounts/api/agents/"+strconv.FormatInt(ownerID(t, owner), 10), nil)
	owner.must(http.StatusNotFound, "DELETE", "/accounts/api/agents/999", nil)
	owner.must(http.StatusNotFound, "DELETE", "/accounts/api/agents/abc", nil)
}

// ownerID is the signed-in user's id.
func ownerID(t *testing.T, c *testClient) int64 {
	t.Helper()
	return int64(c.must(http.StatusOK, "GET", "/accounts/api/me", nil).JSON["user"].(map[string]any)["id"].(float64))
}

// TestAgentMessagesAndSharedRead: an agent's messages carry agent and
// agent_id on every path (live, fetch_messages, fetch_rooms, REST
// history, export, upload); a read by one agent clears the room for the
// whole business and reaches every agent socket of it.
func TestAgentMessagesAndSharedRead(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	agent, agentID := ts.join(owner, "bo", "Bo Berg")

	ownerRoom := ts.dialWS("/ws/room/acme", owner)
	agentRoom := ts.dialWS("/ws/room/acme", agent)
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	ownerRoom.expect("new_room")
	agentRoom.expect("new_room")
	ownerRoom.expect("presence")
	agentRoom.expect("presence")
	hello := vis.say("hello, anyone?")
	for _, s := range []*wsClient{ownerRoom, agentRoom} {
		if m := s.expect("new_message").msg(); m.str("content") != "hello, anyone?" || m["agent"] != nil || m["agent_id"] != nil {
			t.Fatalf("visitor message = %v", m)
		}
	}
	ownerChat := ts.dialWS("/ws/chat/acme/v1", owner)
	agentChat := ts.dialWS("/ws/chat/acme/v1", agent)

	reply := agentChat.say("Hi, Bo here.")
	check := func(where string, m map[string]any) {
		t.Helper()
		if m["author"] != "acme" || m["agent"] != "Bo Berg" || m["agent_id"] != float64(agentID) {
			t.Fatalf("%s: agent message = %v", where, m)
		}
	}
	check("echo", reply)
	check("visitor", vis.expect("new_message").msg())
	check("owner chat", ownerChat.expect("new_message").msg())
	check("owner inbox", ownerRoom.expect("new_message").msg())
	check("agent inbox", agentRoom.expect("new_message").msg())

	vis.send(map[string]any{"command": "fetch_messages"})
	msgs := vis.expect("messages")["messages"].([]any)
	check("fetch_messages", msgs[1].(map[string]any))
	rooms := ownerRoom.probeRooms()["rooms"].([]any)
	check("fetch_rooms", rooms[0].(map[string]any)["messages"].([]any)[1].(map[string]any))
	hist := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/messages", nil).JSON["messages"].([]any)
	check("history", hist[1].(map[string]any))
	exp := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/export", nil).JSON["messages"].([]any)
	check("export", exp[1].(map[string]any))
	var list struct {
		Rooms []RoomSummary `json:"rooms"`
	}
	ts.getJSON(agent, "/chatbot/api/rooms", http.StatusOK, &list)
	if lm := list.Rooms[0].LastMessage; lm.Agent != "Bo Berg" || lm.AgentID != agentID {
		t.Fatalf("room list last message = %+v", lm)
	}
	resp, b := ts.upload(agent, "acme v1", "notes.txt", []byte("some notes"))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"agent":"Bo Berg"`) || !strings.Contains(string(b), `"author":"acme"`) {
		t.Fatalf("agent upload: %d %s", resp.StatusCode, b)
	}
	for _, s := range []*wsClient{vis, ownerChat, agentChat, ownerRoom, agentRoom} {
		check("upload", s.expect("new_message").msg())
	}

	// The owner reads: the room is read for the business.
	last := agentChat.say("anything else?")
	for _, s := range []*wsClient{vis, ownerChat, ownerRoom, agentRoom} {
		s.expect("new_message")
	}
	_ = hello
	vis.say("one more question")
	for _, s := range []*wsClient{ownerChat, agentChat, ownerRoom, agentRoom} {
		s.expect("new_message")
	}
	if r := agentRoom.probeRooms()["rooms"].([]any)[0].(map[string]any); r["unread"] != float64(2) {
		t.Fatalf("unread before read = %v", r["unread"])
	}
	upTo := last.num("id") + 1
	ownerChat.send(map[string]any{"command": "read", "up_to": upTo})
	for _, s := range []*wsClient{vis, agentChat, ownerRoom, agentRoom} {
		f := s.expect("read")
		if f.str("consumer") != "v1" || f.str("by") != "acme" || f.num("up_to") != upTo {
			t.Fatalf("%s: read = %v", s.name, f)
		}
	}
	ownerChat.probe() // not echoed to the reader
	if r := agentRoom.probeRooms()["rooms"].([]any)[0].(map[string]any); r["unread"] != float64(0) {
		t.Fatalf("unread after the owner read = %v", r["unread"])
	}
	// The agent reading the same again changes nothing and sends nothing.
	agentChat.send(map[string]any{"command": "read", "up_to": upTo})
	agentChat.probe()
	ownerRoom.probeRooms()
	// The visitor's read goes to the business side, as before.
	vis.send(map[string]any{"command": "read", "up_to": last.num("id")})
	for _, s := range []*wsClient{ownerChat, agentChat, ownerRoom, agentRoom} {
		if f := s.expect("read"); f.str("by") != "v1" {
			t.Fatalf("visitor read = %v", f)
		}
	}
}

// TestOwnerAsVisitor: with ?as=visitor the owner's own browser talks as
// a visitor on the chat window, and uploads there too.
func TestOwnerAsVisitor(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", owner)
	win := ts.dialWS("/ws/chat/acme/trying-it?as=visitor", owner)
	inbox.expect("new_room")
	if f := inbox.expect("presence"); f["online"] != true {
		t.Fatalf("presence = %v", f)
	}
	m := win.say("does this work?")
	if m.str("author") != "trying-it" || m["agent"] != nil {
		t.Fatalf("as visitor: %v", m)
	}
	if f := inbox.expect("new_message").msg(); f.str("author") != "trying-it" {
		t.Fatalf("inbox got %v", f)
	}
	if r := inbox.probeRooms()["rooms"].([]any)[0].(map[string]any); r["unread"] != float64(1) {
		t.Fatalf("unread = %v", r["unread"])
	}
	// The visitor room socket with ?as=visitor announces rooms as a visitor.
	rs := ts.dialWS("/ws/room/acme?as=visitor", owner)
	rs.send(map[string]any{"command": "fetch_rooms"})
	rs.expectError("forbidden")
	resp, b := ts.upload(owner, "acme trying-it", "a.txt", []byte("x"))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"author":"acme"`) {
		t.Fatalf("upload without as=visitor: %d %s", resp.StatusCode, b)
	}
	hc := owner.HTTP
	body, ctype := multipartBody(t, "file", "b.txt", []byte("y"), "room", "acme trying-it")
	req, _ := http.NewRequest("POST", ts.URL+"/chatbot/message/file/upload?as=visitor", body)
	req.Header.Set("Content-Type", ctype)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	hist := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/trying-it/messages", nil).JSON["messages"].([]any)
	if last := hist[len(hist)-1].(map[string]any); res.StatusCode != http.StatusCreated || last["author"] != "trying-it" || last["agent"] != nil {
		t.Fatalf("upload as visitor: %d %v", res.StatusCode, last)
	}
}

// TestRemoveAgent: the owner removes an agent; its open sockets close at
// once, its sessions end, it cannot sign in again, its messages keep its
// name, and the room assigned to it is unassigned in every open inbox.
func TestRemoveAgent(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	agent, agentID := ts.join(owner, "bo", "Bo")
	other, _ := ts.join(owner, "cy", "Cy")
	inbox := ts.dialWS("/ws/room/acme", agent)
	chat := ts.dialWS("/ws/chat/acme/v1", agent)
	inbox.expect("new_room")
	chat.say("from Bo")
	inbox.expect("new_message")
	otherInbox := ts.dialWS("/ws/room/acme", other)
	// Bo's visitor-side socket on another business is not Bo's agent socket.
	ts.client().signup("shop")
	visitorElsewhere := ts.dialWS("/ws/chat/shop/v9", agent)

	owner.must(http.StatusOK, "PATCH", "/chatbot/api/rooms/v1", map[string]any{"assignee_id": agentID})
	if a := roomOfFrame(otherInbox.expect("room_updated"))["assignee"]; a == nil {
		t.Fatal("room_updated without Bo as the assignee")
	}
	inbox.expect("room_updated")

	owner.must(http.StatusNoContent, "DELETE", "/accounts/api/agents/"+strconv.FormatInt(agentID, 10), nil)
	inbox.expectClose(websocket.StatusPolicyViolation)
	chat.expectClose(websocket.StatusPolicyViolation)
	if f := roomOfFrame(otherInbox.expect("room_updated")); f["consumer"] != "v1" || f["assignee"] != nil {
		t.Fatalf("after the removal, room_updated = %v, want v1 unassigned", f)
	}
	otherInbox.probeRooms()
	if got := consumersOf(roomList(t, ts, owner, "/chatbot/api/rooms?assignee=none")); got != "v1" {
		t.Fatalf("unassigned rooms after the removal: %q, want v1", got)
	}
	visitorElsewhere.probe()

	agent.must(http.StatusUnauthorized, "GET", "/accounts/api/me", nil)
	ts.client().must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "bo", "password": testPassword})
	// A socket with the old cookie is a visitor's now.
	s := ts.dialWS("/ws/room/acme", agent)
	s.send(map[string]any{"command": "fetch_rooms"})
	s.expectError("forbidden")
	hist := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/v1/messages", nil).JSON["messages"].([]any)
	if m := hist[0].(map[string]any); m["agent"] != "Bo" || m["agent_id"] != float64(agentID) {
		t.Fatalf("removed agent's message = %v", m)
	}
	var out struct {
		Agents []UserJSON `json:"agents"`
	}
	ts.getJSON(owner, "/accounts/api/agents", http.StatusOK, &out)
	if len(out.Agents) != 2 || out.Agents[1].Username != "cy" {
		t.Fatalf("agents after removal = %+v", out.Agents)
	}
	owner.must(http.StatusNotFound, "DELETE", "/accounts/api/agents/"+strconv.FormatInt(agentID, 10), nil)
	// The username is free again.
	ts.join(owner, "bo", "Bo again")
}

// TestTeamAcrossBusinesses: an agent of business A reads and writes
// nothing of business B, by any path.
func TestTeamAcrossBusinesses(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ownerA := ts.client().signup("alpha")
	agentA, _ := ts.join(ownerA, "al", "Al")
	ownerB := ts.client().signup("beta")
	_, agentBID := ts.join(ownerB, "bee", "Bee")
	tokB := ownerB.invite(nil)
	visB := ts.dialWS("/ws/chat/beta/vb", nil)
	visB.say("secret of beta")
	bRoom := ts.dialWS("/ws/room/beta", ownerB)

	for _, c := range []*testClient{agentA, ownerA} {
		for _, p := range []string{"/chatbot/api/rooms/vb/messages", "/chatbot/api/rooms/vb/export"} {
			c.must(http.StatusNotFound, "GET", p, nil)
		}
		var list struct {
			Rooms []RoomSummary `json:"rooms"`
		}
		ts.getJSON(c, "/chatbot/api/rooms", http.StatusOK, &list)
		if len(list.Rooms) != 0 {
			t.Fatalf("A sees rooms %+v", list.Rooms)
		}
		var agents struct {
			Agents []UserJSON `json:"agents"`
		}
		ts.getJSON(c, "/accounts/api/agents", http.StatusOK, &agents)
		for _, a := range agents.Agents {
			if a.Business != "alpha" {
				t.Fatalf("A sees agent %+v", a)
			}
		}
	}
	ownerA.must(http.StatusNotFound, "DELETE", "/chatbot/api/rooms/vb", nil)
	ownerA.must(http.StatusNotFound, "DELETE", "/accounts/api/agents/"+strconv.FormatInt(agentBID, 10), nil)
	ownerA.must(http.StatusNotFound, "DELETE", "/accounts/api/invites/"+tokB, nil)
	if l := ownerA.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any); len(l) != 0 {
		t.Fatalf("A sees invites %v", l)
	}
	if l := ownerB.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any); len(l) != 1 {
		t.Fatalf("B's invite gone: %v", l)
	}
	// B's chatbot is B's.
	if cb := agentA.must(http.StatusOK, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any); cb["chatbotName"] != "alpha" {
		t.Fatalf("A's chatbot = %v", cb)
	}
	// An agent's username is no business handle.
	ts.client().must(http.StatusNotFound, "GET", "/chatbot/details/al", nil)
	if _, _, err := ts.tryDial("/ws/room/al", nil, nil); err == nil {
		t.Fatal("socket on an agent's username opened")
	}
	// On B's sockets, A's agent is a visitor: no inbox, no B reply.
	s := ts.dialWS("/ws/room/beta", agentA)
	s.send(map[string]any{"command": "fetch_rooms"})
	s.expectError("forbidden")
	c := ts.dialWS("/ws/chat/beta/vb", agentA)
	if m := c.say("pretending"); m.str("author") != "vb" || m["agent"] != nil {
		t.Fatalf("A's agent wrote on B as %v", m)
	}
	bRoom.expect("new_message")
	// Uploads too.
	resp, b := ts.upload(agentA, "beta vb", "x.txt", []byte("x"))
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"author":"vb"`) || strings.Contains(string(b), `"agent"`) {
		t.Fatalf("A's upload to B: %d %s", resp.StatusCode, b)
	}
	// B's inbox hears nothing of A; A's hears nothing of B.
	aRoom := ts.dialWS("/ws/room/alpha", agentA)
	visB.say("again")
	aRoom.probeRooms()
	bRoom.expect("new_message")
}
