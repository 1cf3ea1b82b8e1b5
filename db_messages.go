package main

import (
	"context"
	"database/sql"
	"errors"
	"math"
)

// Message is SPEC's Message. Room is "<username> <consumer>"; Created is
// already formatted (RFC 3339 UTC with milliseconds).
type Message struct {
	ID       int64  `json:"id"`
	Author   string `json:"author"`
	Content  string `json:"content"`
	Type     string `json:"type"`
	File     string `json:"file"`
	Room     string `json:"room"`
	Created  string `json:"created"`
	ClientID string `json:"client_id,omitempty"`
}

// messageColumns are scanned by scanMessage, in this order.
const messageColumns = "id, author, content, type, file, coalesce(client_id, ''), created"

// scanMessage scans messageColumns into m; room is its Room.
func scanMessage(row interface{ Scan(...any) error }, m *Message, room string) error {
	var created int64
	if err := row.Scan(&m.ID, &m.Author, &m.Content, &m.Type, &m.File, &m.ClientID, &created); err != nil {
		return err
	}
	m.Created = formatTime(created)
	m.Room = room
	return nil
}

// chatStore holds the prepared statements of the chat's hot paths. The
// db type stays the owner of the pools; chatStore only prepares on them.
type chatStore struct {
	db *DB
	// On the writer (used inside the group-commit transaction).
	insertMessage *sql.Stmt
	messageByCID  *sql.Stmt
	touchRoom     *sql.Stmt
	insertFile    *sql.Stmt
	// On the reader.
	pageMessages *sql.Stmt
	messageInRm  *sql.Stmt
	roomByName   *sql.Stmt
}

// newChatStore prepares the chat's statements.
func newChatStore(ctx context.Context, db *DB) (*chatStore, error) {
	st := &chatStore{db: db}
	prep := []struct {
		dst **sql.Stmt
		on  *sql.DB
		sql string
	}{
		{&st.insertMessage, db.writer, `INSERT INTO messages (room_id, author, content, type, file, client_id, created)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&st.messageByCID, db.writer, "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND client_id = ?"},
		{&st.touchRoom, db.writer, "UPDATE rooms SET last_activity = ?, last_message_id = ?, unread = unread + ? WHERE id = ?"},
		{&st.insertFile, db.writer, "INSERT INTO files (room_id, token, name, mime, size, data, created) VALUES (?, ?, ?, ?, ?, ?, ?)"},
		{&st.pageMessages, db.reader, "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?"},
		{&st.messageInRm, db.reader, "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND id = ?"},
		{&st.roomByName, db.reader, "SELECT " + roomColumns + " FROM rooms WHERE user_id = ? AND consumer = ?"},
	}
	for _, p := range prep {
		s, err := p.on.PrepareContext(ctx, p.sql)
		if err != nil {
			st.Close()
			return nil, err
		}
		*p.dst = s
	}
	return st, nil
}

// Close releases the prepared statements.
func (st *chatStore) Close() {
	for _, s := range []*sql.Stmt{st.insertMessage, st.messageByCID, st.touchRoom, st.insertFile,
		st.pageMessages, st.messageInRm, st.roomByName} {
		if s != nil {
			s.Close()
		}
	}
}

// MessagesPage returns up to limit messages of a room older than before
// (0: the newest), oldest first, and whether older ones remain.
func (st *chatStore) MessagesPage(ctx context.Context, roomID int64, room string, before int64, limit int) ([]Message, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rows, err := st.pageMessages.QueryContext(ctx, roomID, before, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	msgs := make([]Message, 0, min(limit+1, 64))
	for rows.Next() {
		var m Message
		if err := scanMessage(rows, &m, room); err != nil {
			return nil, false, err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	// Newest first from the index; the API is oldest first.
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, more, nil
}

// MessageInRoom finds message id of a room, or errNotFound.
func (st *chatStore) MessageInRoom(ctx context.Context, roomID, id int64, room string) (*Message, error) {
	var m Message
	err := scanMessage(st.messageInRm.QueryRowContext(ctx, roomID, id), &m, room)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// AllMessages returns every message of a room, oldest first (for export).
func (st *chatStore) AllMessages(ctx context.Context, roomID int64, room string) ([]Message, error) {
	rows, err := st.db.reader.QueryContext(ctx, "SELECT "+messageColumns+" FROM messages WHERE room_id = ? ORDER BY id", roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	msgs := []Message{}
	for rows.Next() {
		var m Message
		if err := scanMessage(rows, &m, room); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}
