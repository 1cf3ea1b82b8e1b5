package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestChatHandshake covers what happens before the upgrade: unknown
// usernames, bad consumer ids, origins.
func TestChatHandshake(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.AllowedOrigins = []string{"*.partner.example"} })
	ts.client().signup("acme")
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
		{"/ws/chat/acme/v1", ts.URL, http.StatusSwitchingProtocols},
		{"/ws/chat/acme/v1", "", http.StatusSwitchingProtocols},
		{"/ws/chat/Acme/v1", "", http.StatusSwitchingProtocols},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := ts.tryDial(tc.path, nil, h)
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

// TestChatAdminSessionRequired: a socket whose session is stale (signed
// out) is a visitor's.
func TestChatAdminSessionRequired(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	resp, err := admin.HTTP.Post(ts.URL+"/accounts/api/logout", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := ts.dialWS("/ws/room/acme", admin)
	s.send(map[string]any{"command": "fetch_rooms"})
	s.expectError("forbidden")
	s = ts.dialWS("/ws/room/acme", ts.client())
	s.send(map[string]any{"command": "fetch_rooms"})
	s.expectError("forbidden")
}

// TestChatHandshakeErrorsAreJSON: a refused upgrade is an API error like
// any other: JSON {"detail":...}, never the library's plain text.
func TestChatHandshakeErrorsAreJSON(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
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
		req, _ := http.NewRequest(http.MethodGet, ts.URL+tc.path, nil)
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
	ts.DB.reader.QueryRow("SELECT count(*) FROM rooms").Scan(&n)
	if n != 0 {
		t.Fatalf("%d rooms created by refused upgrades", n)
	}
}

// TestChatSessionEndClosesAdminSockets: a socket is the admin's because
// of the session it was opened with; when that session ends (logout, or a
// password change, which ends the account's other sessions) the socket
// must not go on receiving every conversation.
func TestChatSessionEndClosesAdminSockets(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	login := func() *testClient {
		c := ts.client()
		resp, err := c.HTTP.Post(ts.URL+"/accounts/api/login", "application/json", strings.NewReader(`{"username":"acme","password":"`+testPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		return c
	}
	post := func(c *testClient, path, body string, want int) {
		t.Helper()
		resp, err := c.HTTP.Post(ts.URL+path, "application/json", strings.NewReader(body))
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
		stays := ts.dialWS("/ws/room/acme", owner)
		inbox := ts.dialWS("/ws/room/acme", other)
		chat := ts.dialWS("/ws/chat/acme/v1", other)
		post(other, "/accounts/api/logout", "", http.StatusNoContent)
		inbox.expectClose(websocket.StatusPolicyViolation)
		chat.expectClose(websocket.StatusPolicyViolation)
		stays.expect("new_room")
		stays.probeRooms() // another session of the account is untouched
	})
	t.Run("password change", func(t *testing.T) {
		thief := login()
		inbox := ts.dialWS("/ws/room/acme", thief)
		chat := ts.dialWS("/ws/chat/acme/v2", thief)
		mine := ts.dialWS("/ws/room/acme", owner)
		post(owner, "/accounts/api/changepassword", `{"old_password":"`+testPassword+`","new_password":"password456"}`, http.StatusOK)
		inbox.expectClose(websocket.StatusPolicyViolation)
		chat.expectClose(websocket.StatusPolicyViolation)
		mine.expectClose(websocket.StatusPolicyViolation)
		// The owner's browser reconnects with its renewed session.
		ts.dialWS("/ws/room/acme", owner).probeRooms()
	})
}

// TestChatSessionExpiryClosesAdminSockets: an admin socket closes (1008)
// when the session it was opened with expires, without any request (issue
// 12, finding 7: only logout and a password change ended them); a
// visitor's socket stays open.
func TestChatSessionExpiryClosesAdminSockets(t *testing.T) {
	const lifetime = 2 * time.Second
	ts := newTestServer(t, chatConfig, func(c *Config) { c.SessionLifetime = lifetime })
	// Taken before the signup: the session (and its lifetime) starts
	// during that call, so this is no later than its start however slow
	// the machine.
	signedIn := time.Now()
	owner := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", owner)
	chat := ts.dialWS("/ws/chat/acme/v1", owner)
	visitor := ts.dialWS("/ws/chat/acme/v2", nil)
	inbox.expect("new_room") // v2's room
	inbox.expectClose(websocket.StatusPolicyViolation)
	chat.expectClose(websocket.StatusPolicyViolation)
	if d := time.Since(signedIn); d < lifetime-100*time.Millisecond {
		t.Errorf("admin socket closed %v after sign-in, before the session's %v lifetime", d, lifetime)
	}
	// The session has indeed expired, and the visitor is still served.
	owner.must(http.StatusUnauthorized, "GET", "/accounts/api/me", nil)
	visitor.probe()
}

// TestChatOtherAccountIsAVisitor: signed in to one account, the sockets
// and uploads of another account are a visitor's; REST shows only one's
// own rooms.
func TestChatOtherAccountIsAVisitor(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	acme := ts.client().signup("acme")
	other := ts.client().signup("other")
	inbox := ts.dialWS("/ws/room/acme", acme)

	room := ts.dialWS("/ws/room/ACME", other)
	room.send(map[string]any{"command": "fetch_rooms"})
	room.expectError("forbidden")
	chat := ts.dialWS("/ws/chat/Acme/v1", other)
	inbox.expect("new_room")
	if p := inbox.expect("presence"); p["online"] != true {
		t.Fatalf("presence = %v: the other account's chat socket counts as a visitor's", p)
	}
	if m := chat.say("hello"); m.str("author") != "v1" || m.str("room") != "acme v1" {
		t.Fatalf("message = %v, want the visitor's", m)
	}
	inbox.expect("new_message")
	resp, body := ts.upload(other, "ACME v1", "a.txt", []byte("hello"))
	var m Message
	json.Unmarshal(body, &m)
	if resp.StatusCode != http.StatusCreated || m.Author != "v1" || m.Room != "acme v1" {
		t.Fatalf("upload: %d %+v", resp.StatusCode, m)
	}
	chat.expect("new_message")
	inbox.expect("new_message")
	for _, p := range []string{"/chatbot/api/rooms/v1/messages", "/chatbot/api/rooms/v1/export"} {
		ts.getJSON(other, p, http.StatusNotFound, nil)
		ts.getJSON(acme, p, http.StatusOK, nil)
	}
	var page roomsPage
	ts.getJSON(other, "/chatbot/api/rooms", http.StatusOK, &page)
	if len(page.Rooms) != 0 {
		t.Fatalf("other sees %+v", page.Rooms)
	}
}
