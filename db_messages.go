package main

import (
	"context"
	"database/sql"
	"errors"
	"math"
)

// messageColumns are scanned by scanMessage, in this order.
const messageColumns = "id, author, content, type, file, coalesce(client_id, ''), created, coalesce(agent_id, 0), agent, auto, private"

// scanMessage scans messageColumns into m; room is its Room.
func scanMessage(row interface{ Scan(...any) error }, m *Message, room string) error {
	var created int64
	if err := row.Scan(&m.ID, &m.Author, &m.Content, &m.Type, &m.File, &m.ClientID, &created, &m.AgentID, &m.Agent, &m.Auto, &m.Private); err != nil {
		return err
	}
	m.Created = formatTime(created)
	m.Room = room
	return nil
}

const pageMessagesSQL = "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?"

// pagePublicSQL is pageMessagesSQL without private notes: a visitor's page.
const pagePublicSQL = "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND id < ? AND private = 0 ORDER BY id DESC LIMIT ?"

// MessagesPage returns up to limit messages of a room older than before
// (0: the newest), oldest first, and whether older ones remain. Private
// notes are left out unless notes is set (agents only).
func (db *DB) MessagesPage(ctx context.Context, roomID int64, room string, before int64, limit int, notes bool) ([]Message, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	stmt := db.pagePublic
	if notes {
		stmt = db.pageMessages
	}
	rows, err := stmt.QueryContext(ctx, roomID, before, limit+1)
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

const messageInRoomSQL = "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND id = ?"

// MessageInRoom finds message id of a room, or errNotFound.
func (db *DB) MessageInRoom(ctx context.Context, roomID, id int64, room string) (*Message, error) {
	var m Message
	err := scanMessage(db.messageInRm.QueryRowContext(ctx, roomID, id), &m, room)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// AllMessages returns every message of a room, oldest first (for export).
func (db *DB) AllMessages(ctx context.Context, roomID int64, room string) ([]Message, error) {
	rows, err := db.reader.QueryContext(ctx, "SELECT "+messageColumns+" FROM messages WHERE room_id = ? ORDER BY id", roomID)
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
