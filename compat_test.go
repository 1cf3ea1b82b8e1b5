package main

// Replays of what the original product's clients send (SPEC Part 2, "The
// original product's clients"): its visitor widget, its React admin front
// end (axios: JSON bodies, FormData for the chatbot form) and its test
// chatbot page (a room socket from the owner's browser).

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// axiosHeaders are the headers axios puts on a JSON POST.
var axiosHeaders = []string{"Content-Type", "application/json;charset=utf-8", "Accept", "application/json, text/plain, */*"}

// The widget's POST /chatbot/details/ with {"username"} (JSON or form)
// answers like GET /chatbot/details/{username}, and nothing under
// /chatbot/details answers HTML.
func TestCompatDetailsPost(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	admin.must(http.StatusOK, "POST", "/chatbot/api", map[string]string{"chatbotName": "Acme Bikes"})
	want := ts.client().must(http.StatusOK, "GET", "/chatbot/details/acme", nil)

	anon := ts.client()
	for _, c := range []struct {
		name, path string
		body       any
		headers    []string
	}{
		{"widget JSON with slash", "/chatbot/details/", strings.NewReader(`{"username":"acme"}`), axiosHeaders},
		{"JSON without slash", "/chatbot/details", map[string]string{"username": "acme"}, nil},
		{"upper case", "/chatbot/details/", map[string]string{"username": "ACME"}, nil},
		{"form", "/chatbot/details/", url.Values{"username": {"acme"}}.Encode(), nil},
	} {
		r := anon.do("POST", c.path, c.body, c.headers...)
		if r.Status != http.StatusOK || r.JSON == nil {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			continue
		}
		if got, exp := string(r.Body), string(want.Body); got != exp {
			t.Errorf("%s: %s, want the GET answer %s", c.name, got, exp)
		}
	}
	// A multipart form, as FormData sends it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("username", "acme")
	mw.Close()
	if r := anon.do("POST", "/chatbot/details/", &buf, "Content-Type", mw.FormDataContentType()); r.Status != http.StatusOK || r.JSON["chatbot"] == nil {
		t.Errorf("multipart: %d %s", r.Status, r.Body)
	}
	// Errors, and every other path and method under /chatbot/details:
	// JSON, never the HTML page.
	if r := anon.must(http.StatusBadRequest, "POST", "/chatbot/details/", map[string]string{}); r.FieldError("username") == "" {
		t.Errorf("no username: %s", r.Body)
	}
	anon.must(http.StatusNotFound, "POST", "/chatbot/details/", map[string]string{"username": "nobody"})
	for _, c := range []struct{ method, path string }{
		{"GET", "/chatbot/details"}, {"GET", "/chatbot/details/"}, {"GET", "/chatbot/details/nobody"},
		{"GET", "/chatbot/details/acme/extra"}, {"PUT", "/chatbot/details/acme"}, {"DELETE", "/chatbot/details/"},
		{"POST", "/chatbot/details/acme"}, {"GET", "/chatbot/details/a/b/c/"},
	} {
		r := anon.do(c.method, c.path, nil)
		if r.Status < 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || r.JSON["detail"] == nil {
			t.Errorf("%s %s: %d %q %s", c.method, c.path, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
	// A page that merely starts like it is still a page.
	if r := anon.do("GET", "/chatbot/detailsx/visitor", nil); !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("/chatbot/detailsx/visitor: %q", r.Header.Get("Content-Type"))
	}
}

// originalChatbotForm is the original front end's chatbot form as
// FormData: text fields and, if given, the bot_picture file.
func originalChatbotForm(t *testing.T, fields map[string]string, picName string, pic []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if pic != nil {
		fw, err := mw.CreateFormFile("bot_picture", picName)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(pic)
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// POST /chatbot/api as multipart/form-data with a bot_picture part stores
// the fields and the picture; a bad picture or field changes nothing.
func TestCompatChatbotMultipart(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	pic := pagesPNG()

	body, ctype := originalChatbotForm(t, map[string]string{"chatbotName": "Acme Bikes", "headerBackgroundColor": "#123456", "introductionText": "Hello!"}, "logo.png", pic)
	r := admin.must(http.StatusOK, "POST", "/chatbot/api", body, "Content-Type", ctype)
	c, _ := r.JSON["chatbot_details"].(map[string]any)
	if c["chatbotName"] != "Acme Bikes" || c["headerBackgroundColor"] != "#123456" || c["introductionText"] != "Hello!" {
		t.Errorf("fields not stored: %v", c)
	}
	picURL, _ := c["bot_picture"].(string)
	if picURL == "" {
		t.Fatalf("bot_picture not stored: %v", c)
	}
	got := ts.client().must(http.StatusOK, "GET", strings.TrimPrefix(picURL, ts.URL), nil)
	if !bytes.Equal(got.Body, pic) || got.Header.Get("Content-Type") != "image/png" {
		t.Errorf("stored picture: %d bytes, %q", len(got.Body), got.Header.Get("Content-Type"))
	}

	// Fields only, bot_picture sent back as the current URL (text): the
	// picture stays.
	body, ctype = originalChatbotForm(t, map[string]string{"chatbotName": "Acme", "bot_picture": picURL}, "", nil)
	r = admin.must(http.StatusOK, "POST", "/chatbot/api", body, "Content-Type", ctype)
	if c := r.JSON["chatbot_details"].(map[string]any); c["chatbotName"] != "Acme" || c["bot_picture"] != picURL {
		t.Errorf("after a fields-only form: %v", c)
	}

	// Not a picture: refused like the picture upload, nothing stored.
	body, ctype = originalChatbotForm(t, map[string]string{"chatbotName": "Changed"}, "logo.png", []byte("<svg onload=alert(1)></svg>"))
	if r := admin.must(http.StatusBadRequest, "POST", "/chatbot/api", body, "Content-Type", ctype); r.FieldError("bot_picture") == "" {
		t.Errorf("not a picture: %s", r.Body)
	}
	// A bad field with a good picture: nothing stored either.
	body, ctype = originalChatbotForm(t, map[string]string{"headerTextColor": "white"}, "other.png", append(append([]byte{}, pic[:len(pic)-12]...), pic[len(pic)-12:]...))
	if r := admin.must(http.StatusBadRequest, "POST", "/chatbot/api", body, "Content-Type", ctype); r.FieldError("headerTextColor") == "" {
		t.Errorf("bad colour: %s", r.Body)
	}
	// Too large.
	big := append(append([]byte{}, pic...), make([]byte, ts.Config.MaxPicture)...)
	body, ctype = originalChatbotForm(t, nil, "big.png", big)
	if r := admin.must(http.StatusRequestEntityTooLarge, "POST", "/chatbot/api", body, "Content-Type", ctype); r.FieldError("bot_picture") == "" {
		t.Errorf("too large: %s", r.Body)
	}
	r = admin.must(http.StatusOK, "GET", "/chatbot/api", nil)
	if c := r.JSON["chatbot_details"].(map[string]any); c["chatbotName"] != "Acme" || c["bot_picture"] != picURL || c["headerTextColor"] != defaultChatbot("acme").HeaderTextColor {
		t.Errorf("a refused form changed the chatbot: %v", c)
	}
	// Signed out: 401, as for JSON.
	body, ctype = originalChatbotForm(t, map[string]string{"chatbotName": "x"}, "logo.png", pic)
	ts.client().must(http.StatusUnauthorized, "POST", "/chatbot/api", body, "Content-Type", ctype)
}

// The login and signup answers carry the original's userDetails.
func TestCompatUserDetails(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	check := func(what string, r *response, want map[string]any) {
		t.Helper()
		ud, _ := r.JSON["userDetails"].(map[string]any)
		user, _ := ud["user"].(map[string]any)
		for k, v := range want {
			if user[k] != v {
				t.Errorf("%s: userDetails.user.%s = %v, want %v (%s)", what, k, user[k], v, r.Body)
			}
		}
		if r.JSON["user"] == nil {
			t.Errorf("%s: livechat's own user is gone: %s", what, r.Body)
		}
	}
	r := ts.client().must(http.StatusCreated, "POST", "/accounts/api/signup",
		strings.NewReader(`{"username":"john","password":"correct horse","email":"john@example.com","name":"Nordic Bikes Oslo"}`), axiosHeaders...)
	check("signup", r, map[string]any{"username": "john", "email": "john@example.com", "first_name": "Nordic", "last_name": "Bikes Oslo"})
	r = ts.client().must(http.StatusOK, "POST", "/accounts/api/login", strings.NewReader(`{"username":"john","password":"correct horse"}`), axiosHeaders...)
	check("login", r, map[string]any{"username": "john", "email": "john@example.com", "first_name": "Nordic", "last_name": "Bikes Oslo"})
	r = ts.client().must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": "solo", "password": testPassword})
	check("signup without name or email", r, map[string]any{"username": "solo", "email": "", "first_name": "", "last_name": ""})
	// The password never goes back.
	if strings.Contains(string(r.Body), testPassword) || strings.Contains(string(r.Body), "password") {
		t.Errorf("signup answer mentions the password: %s", r.Body)
	}
}

// Consumer ids made from email local parts ("john+shop") work everywhere
// a consumer id goes.
func TestCompatConsumerPlus(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/john+shop", nil)
	m := vis.say("hi from john")
	if m.str("author") != "john+shop" || m.str("room") != "acme john+shop" {
		t.Errorf("message = %v", m)
	}
	// Percent-encoded, as encodeURIComponent makes it: the same room.
	again := ts.dialWS("/ws/chat/acme/john%2Bshop", nil)
	again.send(map[string]any{"command": "fetch_messages"})
	if msgs := again.expect("messages")["messages"].([]any); len(msgs) != 1 {
		t.Errorf("john%%2Bshop sees %d messages, want john+shop's 1", len(msgs))
	}
	// The original's two-socket handshake with such an id.
	room := ts.dialWS("/ws/room/acme", nil)
	room.send(map[string]any{"command": "room", "consumer": "mary+news", "email": "mary+news@example.com"})
	if f := room.expect("new_room"); f["room"].(map[string]any)["consumer"] != "mary+news" {
		t.Errorf("new_room = %v", f)
	}
	admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/john+shop/messages", nil)
	admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/john%2Bshop/export", nil)
	if r, _ := ts.upload(nil, "acme john+shop", "notes.txt", []byte("notes")); r.StatusCode != http.StatusCreated {
		t.Errorf("upload to john+shop: %d", r.StatusCode)
	}
	if r := ts.client().do("GET", "/chatbot/acme/john+shop", nil); r.Status != http.StatusOK {
		t.Errorf("visitor page: %d", r.Status)
	}
	// Still refused: anything else.
	for _, bad := range []string{"john shop", "john@shop", "a/b", strings.Repeat("+", 65)} {
		room.send(map[string]any{"command": "new_room", "consumer": bad})
		room.expectError("bad_field")
	}
	admin.must(http.StatusNoContent, "DELETE", "/chatbot/api/rooms/john+shop", nil)
}

// The original test page, opened in the owner's browser, sends room /
// new_room on the agent's room socket: answered as for a visitor (the new
// room once, or room_exists), not forbidden.
func TestCompatAgentRoomCommand(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	other := ts.dialWS("/ws/room/acme", admin)
	inbox.send(map[string]any{"command": "room", "consumer": "test-page", "email": "owner@example.com"})
	f := inbox.expect("new_room")
	if r := f["room"].(map[string]any); r["consumer"] != "test-page" || r["consumer_email"] != "owner@example.com" {
		t.Errorf("new_room = %v", f)
	}
	if f := other.expect("new_room"); f["room"].(map[string]any)["consumer"] != "test-page" {
		t.Errorf("the other inbox got %v", f)
	}
	// Exactly once: the next frame answers the next command.
	inbox.send(map[string]any{"command": "new_room", "consumer": "test-page"})
	inbox.expect("room_exists")
	inbox.send(map[string]any{"command": "room", "consumer": "bad id!"})
	inbox.expectError("bad_field")
	// Other commands are still not for this socket.
	inbox.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "x"}})
	inbox.expectError("forbidden")
	// A conversation starts with a message: the room is not listed yet.
	rooms := inbox.probeRooms()["rooms"].([]any)
	if len(rooms) != 0 {
		t.Errorf("rooms = %v", rooms)
	}
	other.probeRooms()
}
