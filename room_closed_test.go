package main

import (
	"net/http"
	"testing"
)

// Deleting a conversation tells the visitor's open chat socket at once
// (error not_found, "This conversation was closed."); the business's own
// sockets are not told (they did it), and a new socket starts a new room.
func TestDeleteTellsVisitorClosed(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/closing", nil)
	vis.say("hello")
	adminChat := ts.dialWS("/ws/chat/acme/closing", admin)
	admin.must(http.StatusNoContent, "DELETE", "/chatbot/api/rooms/closing", nil)
	f := vis.expect("error")
	if f.str("error") != "not_found" || f.str("detail") != "This conversation was closed." {
		t.Fatalf("visitor got %v", f)
	}
	adminChat.probe()
	// The old socket's messages still get not_found; a new socket is a new room.
	vis.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "still there?"}})
	vis.expectError("not_found")
	again := ts.dialWS("/ws/chat/acme/closing", nil)
	again.send(map[string]any{"command": "fetch_messages"})
	if msgs := again.expect("messages")["messages"].([]any); len(msgs) != 0 {
		t.Fatalf("new room has %d messages", len(msgs))
	}
}
