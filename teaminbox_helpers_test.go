package main

import "testing"

// seedMessages gives every room without a message one message from its
// visitor, created at the room's last activity (which stays as it was),
// so that paging tests written before "conversations start with a
// message" still list every room.
func (ts *testServer) seedMessages(t *testing.T) {
	t.Helper()
	_, err := ts.DB.writer.Exec(`
		INSERT INTO messages (room_id, author, content, type, file, created)
			SELECT id, consumer, 'hello', 'text', '', last_activity FROM rooms WHERE last_message_id IS NULL;
		UPDATE rooms SET last_message_id = (SELECT max(id) FROM messages WHERE room_id = rooms.id)
			WHERE last_message_id IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
}
