package main

import (
	"bytes"
	"context"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// TestEmailTranscript: "email me this conversation" queues one email to
// the room's email through the outbox; it reaches the real SMTP test
// server with the conversation (the visitor's and the agents' messages,
// a file by name) and without a private note; a second ask within ten
// minutes is refused with 429, and after ten minutes works again.
func TestEmailTranscript(t *testing.T) {
	st := startSMTP(t, false, "")
	ts := mailServer(t, st, false, "")
	admin := ts.client().signup("acme")
	// A private note, as the inbox's notes mark them (messages.private);
	// the column is added here when the schema does not have it yet.
	if _, err := ts.DB.writer.Exec("ALTER TABLE messages ADD COLUMN private INTEGER NOT NULL DEFAULT 0"); err != nil && !strings.Contains(err.Error(), "duplicate column") {
		t.Fatal(err)
	}

	v := ts.dialWS("/ws/chat/acme/vera", nil)
	v.say("Hello, my order 1234 is late <b>")
	agent := ts.dialWS("/ws/chat/acme/vera", admin)
	agent.say("Sorry! It ships today.")
	v.expect("new_message")
	note := agent.say("NOTE: customer is grumpy")
	v.expect("new_message")
	if _, err := ts.DB.writer.Exec("UPDATE messages SET private = 1 WHERE id = ?", note.num("id")); err != nil {
		t.Fatal(err)
	}
	if resp, body := ts.upload(nil, "acme vera", "receipt.txt", []byte("receipt")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}

	visitor := ts.client()
	path := "/chatbot/acme/vera/transcript"
	// No email yet: 409, nothing queued.
	r := visitor.must(http.StatusConflict, "POST", path, map[string]any{})
	if !strings.Contains(r.Detail(), "email") {
		t.Errorf("no-email detail %q", r.Detail())
	}
	room := ts.dialWS("/ws/room/acme", nil)
	room.send(map[string]any{"command": "room", "consumer": "vera", "email": "vera@visitor.example"})
	room.expect("room_exists")

	// Wrong requests change nothing.
	visitor.must(http.StatusUnsupportedMediaType, "POST", path, "x=1")
	visitor.must(http.StatusNotFound, "POST", "/chatbot/acme/nobody/transcript", map[string]any{})
	visitor.must(http.StatusNotFound, "POST", "/chatbot/nosuch/vera/transcript", map[string]any{})

	visitor.must(http.StatusAccepted, "POST", path, map[string]any{})
	got := st.waitReceived(1, 10*time.Second, 300*time.Millisecond)
	if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "vera@visitor.example" {
		t.Fatalf("received %+v, want one mail to vera@visitor.example", got)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if s := msg.Header.Get("Subject"); s != "Your conversation with acme" {
		t.Errorf("Subject %q", s)
	}
	parts := mimeParts(t, msg)
	text := strings.ReplaceAll(parts["text/plain"], "\r\n", "\n")
	for _, want := range []string{"You, ", "Hello, my order 1234 is late <b>", "acme, ", "Sorry! It ships today.", "UTC:\n[file: receipt.txt]", "[file: receipt.txt]",
		"Continue the conversation: https://chat.acme.example/chatbot/acme/vera"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "order 1234") > strings.Index(text, "ships today") {
		t.Error("the messages are not in order")
	}
	if strings.Contains(string(got[0].Data), "grumpy") {
		t.Error("the private note is in the email")
	}
	if html := parts["text/html"]; strings.Contains(html, "late <b>") || !strings.Contains(html, "late &lt;b&gt;") {
		t.Error("the HTML part does not escape the visitor's text")
	}

	// Once per ten minutes per room.
	r = visitor.must(http.StatusTooManyRequests, "POST", path, map[string]any{})
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	ts.clock.Advance(9 * time.Minute)
	visitor.must(http.StatusTooManyRequests, "POST", path, map[string]any{})
	ts.clock.Advance(61 * time.Second)
	visitor.must(http.StatusAccepted, "POST", path, map[string]any{})
	st.waitReceived(2, 10*time.Second, 300*time.Millisecond)
	if n := len(st.Received()); n != 2 {
		t.Errorf("%d mails, want 2", n)
	}
	if q, _ := ts.Server.outbox.Status(context.Background(), 1); q.Queued != 0 {
		t.Errorf("outbox still holds %d", q.Queued)
	}
}

// TestEmailTranscriptMailOff: without mail the route answers 409 and the
// visitor window does not offer it.
func TestEmailTranscriptMailOff(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/vera", nil).say("hi")
	room := ts.dialWS("/ws/room/acme", nil)
	room.send(map[string]any{"command": "room", "consumer": "vera", "email": "vera@visitor.example"})
	room.expect("room_exists")
	r := ts.client().must(http.StatusConflict, "POST", "/chatbot/acme/vera/transcript", map[string]any{})
	if !strings.Contains(r.Detail(), "not set up") {
		t.Errorf("detail %q", r.Detail())
	}
	page := ts.client().must(http.StatusOK, "GET", "/chatbot/acme/vera", nil)
	if !bytes.Contains(page.Body, []byte(`data-mail="false"`)) {
		t.Error("the visitor window does not say mail is off")
	}
}
