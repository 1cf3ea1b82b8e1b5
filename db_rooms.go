package main

import (
	"context"
	"database/sql"
	"errors"
	"math"
)

// roomRow is a stored room.
type roomRow struct {
	ID           int64
	UserID       int64
	Consumer     string
	Email        string
	Unread       int
	AdminRead    int64
	VisitorRead  int64
	LastMessage  int64
	Created      int64
	LastActivity int64
}

// Room is SPEC's Room: a conversation with its last messages, as sent over
// the admin's room socket.
type Room struct {
	Consumer      string    `json:"consumer"`
	ConsumerEmail string    `json:"consumer_email"`
	Messages      []Message `json:"messages"`
	Unread        int       `json:"unread"`
	Online        bool      `json:"online"`
	Created       string    `json:"created"`
	LastActivity  string    `json:"last_activity"`
}

// RoomSummary is SPEC's RoomSummary, the REST inbox's list entry.
type RoomSummary struct {
	Consumer      string   `json:"consumer"`
	ConsumerEmail string   `json:"consumer_email"`
	LastMessage   *Message `json:"last_message"`
	Unread        int      `json:"unread"`
	Online        bool     `json:"online"`
	Created       string   `json:"created"`
	LastActivity  string   `json:"last_activity"`
}

// roomMessages is how many recent messages a Room carries.
const roomMessages = 50

const roomColumns = "id, user_id, consumer, consumer_email, unread, admin_read_up_to, visitor_read_up_to, coalesce(last_message_id, 0), created, last_activity"

func scanRoom(row interface{ Scan(...any) error }) (*roomRow, error) {
	var r roomRow
	err := row.Scan(&r.ID, &r.UserID, &r.Consumer, &r.Email, &r.Unread, &r.AdminRead, &r.VisitorRead, &r.LastMessage, &r.Created, &r.LastActivity)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// json renders a room with the given messages; online comes from the hub.
func (r *roomRow) json(msgs []Message, online bool) Room {
	if msgs == nil {
		msgs = []Message{}
	}
	return Room{Consumer: r.Consumer, ConsumerEmail: r.Email, Messages: msgs, Unread: r.Unread, Online: online,
		Created: formatTime(r.Created), LastActivity: formatTime(r.LastActivity)}
}

// RoomByConsumer finds an account's room with a consumer, or errNotFound.
func (st *chatStore) RoomByConsumer(ctx context.Context, userID int64, consumer string) (*roomRow, error) {
	return scanRoom(st.roomByName.QueryRowContext(ctx, userID, consumer))
}

// ensureRoomTx finds or creates the room inside the writer's transaction.
// A non-empty email is stored. created reports a new room.
func ensureRoomTx(ctx context.Context, tx *sql.Tx, userID int64, consumer, email string, now int64) (r *roomRow, created bool, err error) {
	r, err = scanRoom(tx.QueryRowContext(ctx, "SELECT "+roomColumns+" FROM rooms WHERE user_id = ? AND consumer = ?", userID, consumer))
	switch {
	case err == nil:
		if email != "" && email != r.Email {
			if _, err := tx.ExecContext(ctx, "UPDATE rooms SET consumer_email = ? WHERE id = ?", email, r.ID); err != nil {
				return nil, false, err
			}
			r.Email = email
		}
		return r, false, nil
	case !errors.Is(err, errNotFound):
		return nil, false, err
	}
	r = &roomRow{UserID: userID, Consumer: consumer, Email: email, Created: now, LastActivity: now}
	err = tx.QueryRowContext(ctx,
		"INSERT INTO rooms (user_id, consumer, consumer_email, created, last_activity) VALUES (?, ?, ?, ?, ?) RETURNING id",
		userID, consumer, email, now, now).Scan(&r.ID)
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// RoomsWithMessages returns every room of an account, newest activity
// first, each with its last roomMessages messages (oldest first). It is two
// queries: the rooms, and all their recent messages through one join in
// which each room's cut-off id is a bounded backward scan of the
// (room_id, id) index, so 1,000 rooms cost 1,000 index seeks inside SQLite
// rather than 1,000 round trips.
func (st *chatStore) RoomsWithMessages(ctx context.Context, userID int64, username string) ([]*roomRow, map[int64][]Message, error) {
	rooms, err := st.roomRows(ctx, "SELECT "+roomColumns+" FROM rooms WHERE user_id = ? ORDER BY last_activity DESC, id DESC", userID)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]*roomRow, len(rooms))
	names := make(map[int64]string, len(rooms))
	for _, r := range rooms {
		byID[r.ID] = r
		names[r.ID] = roomName(username, r.Consumer)
	}
	rows, err := st.db.reader.QueryContext(ctx, `
		SELECT m.room_id, m.id, m.author, m.content, m.type, m.file, coalesce(m.client_id, ''), m.created
		FROM rooms r JOIN messages m ON m.room_id = r.id AND m.id >= coalesce(
			(SELECT id FROM messages WHERE room_id = r.id ORDER BY id DESC LIMIT 1 OFFSET ?), 0)
		WHERE r.user_id = ?
		ORDER BY m.room_id, m.id`, roomMessages-1, userID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	msgs := make(map[int64][]Message, len(rooms))
	for rows.Next() {
		var roomID, created int64
		var m Message
		if err := rows.Scan(&roomID, &m.ID, &m.Author, &m.Content, &m.Type, &m.File, &m.ClientID, &created); err != nil {
			return nil, nil, err
		}
		if _, ok := byID[roomID]; !ok {
			continue // created after the first query
		}
		m.Created = formatTime(created)
		m.Room = names[roomID]
		list := msgs[roomID]
		if list == nil {
			list = make([]Message, 0, roomMessages)
		}
		msgs[roomID] = append(list, m)
	}
	return rooms, msgs, rows.Err()
}

func (st *chatStore) roomRows(ctx context.Context, query string, args ...any) ([]*roomRow, error) {
	rows, err := st.db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rooms []*roomRow
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, err
		}
		rooms = append(rooms, r)
	}
	return rooms, rows.Err()
}

// RoomSummaries returns one page of an account's rooms with last activity
// strictly before before (0: from the newest), newest first, each with its
// last message, and whether more remain.
func (st *chatStore) RoomSummaries(ctx context.Context, userID int64, username string, before int64, limit int) ([]*roomRow, map[int64]*Message, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	rooms, err := st.roomRows(ctx, "SELECT "+roomColumns+" FROM rooms WHERE user_id = ? AND last_activity < ? ORDER BY last_activity DESC, id DESC LIMIT ?",
		userID, before, limit+1)
	if err != nil {
		return nil, nil, false, err
	}
	more := len(rooms) > limit
	if more {
		rooms = rooms[:limit]
	}
	last := make(map[int64]*Message, len(rooms))
	for _, r := range rooms {
		if r.LastMessage == 0 {
			continue
		}
		m, err := st.MessageInRoom(ctx, r.ID, r.LastMessage, roomName(username, r.Consumer))
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, false, err
		}
		last[r.ID] = m
	}
	return rooms, last, more, nil
}

// SetRoomEmail stores the visitor's email address for a room.
func (db *DB) SetRoomEmail(ctx context.Context, roomID int64, email string) error {
	_, err := db.writer.ExecContext(ctx, "UPDATE rooms SET consumer_email = ? WHERE id = ?", email, roomID)
	return err
}

// MarkRead records that one side has read a room up to message id upTo
// (never moving backwards). When the admin reads, unread becomes the number
// of the visitor's messages after upTo.
func (db *DB) MarkRead(ctx context.Context, roomID int64, admin bool, upTo int64) error {
	if admin {
		_, err := db.writer.ExecContext(ctx, `UPDATE rooms SET admin_read_up_to = max(admin_read_up_to, ?),
			unread = (SELECT count(*) FROM messages WHERE room_id = rooms.id AND id > max(rooms.admin_read_up_to, ?) AND author = rooms.consumer)
			WHERE id = ?`, upTo, upTo, roomID)
		return err
	}
	_, err := db.writer.ExecContext(ctx, "UPDATE rooms SET visitor_read_up_to = max(visitor_read_up_to, ?) WHERE id = ?", upTo, roomID)
	return err
}

// DeleteRoom erases a room with its messages and files (ON DELETE CASCADE).
func (db *DB) DeleteRoom(ctx context.Context, roomID int64) error {
	res, err := db.writer.ExecContext(ctx, "DELETE FROM rooms WHERE id = ?", roomID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}
