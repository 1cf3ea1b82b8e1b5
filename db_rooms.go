package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
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
	// Status is "open" or "resolved"; AssigneeID (0: nobody) and
	// AssigneeName are the agent it is assigned to (teaminbox.go).
	Status       string
	AssigneeID   int64
	AssigneeName string
	// Visitor is who the visitor is (visitor.go), nil when unknown or
	// not loaded.
	Visitor *Visitor
}

// roomMessages is how many recent messages a Room carries.
const roomMessages = 50

const roomColumns = "id, user_id, consumer, consumer_email, unread, admin_read_up_to, visitor_read_up_to, coalesce(last_message_id, 0), created, last_activity, " + assigneeColumns

// assigneeColumns are a room's status, assignee id and assignee name (the
// agent's display name), for a query on rooms (aliased or not).
const assigneeColumns = "status, coalesce(assignee_id, 0), coalesce((SELECT CASE WHEN a.name != '' THEN a.name ELSE a.username END FROM users a WHERE a.id = assignee_id), '')"

func scanRoom(row interface{ Scan(...any) error }) (*roomRow, error) {
	var r roomRow
	err := row.Scan(&r.ID, &r.UserID, &r.Consumer, &r.Email, &r.Unread, &r.AdminRead, &r.VisitorRead, &r.LastMessage, &r.Created, &r.LastActivity, &r.Status, &r.AssigneeID, &r.AssigneeName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

const roomByConsumerSQL = "SELECT " + roomColumns + " FROM rooms WHERE user_id = ? AND consumer = ?"

// RoomByConsumer finds an account's room with a consumer, or errNotFound.
func (db *DB) RoomByConsumer(ctx context.Context, userID int64, consumer string) (*roomRow, error) {
	return scanRoom(db.roomByName.QueryRowContext(ctx, userID, consumer))
}

// ensureRoomTx finds or creates the room inside the writer's transaction.
// A non-empty email is stored. created reports a new room.
func ensureRoomTx(ctx context.Context, tx *sql.Tx, userID int64, consumer, email string, now int64) (r *roomRow, created bool, err error) {
	r, err = scanRoom(tx.QueryRowContext(ctx, roomByConsumerSQL, userID, consumer))
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

// RoomsWithMessages returns one page of an account's rooms with last
// activity strictly before before (0: from the newest), newest activity
// first, as RoomSummaries pages them (a page never ends inside a run of
// rooms sharing a last_activity), whether more remain, and for each room
// id its last roomMessages messages (oldest first) as a ready JSON array.
// It is two queries: the rooms, and all their recent messages through one
// join in which each room's cut-off id is a bounded backward scan of the
// (room_id, id) index, so 100 rooms cost 100 index seeks inside SQLite
// rather than 100 round trips. The messages are written as JSON straight
// from the scan (jsonappend.go).
func (db *DB) RoomsWithMessages(ctx context.Context, userID int64, username string, before int64, limit int, f roomFilter) ([]*roomRow, map[int64][]byte, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	fsql, fargs := f.where()
	rooms, more, err := pageByActivity(before, limit, func(cond string, args ...any) ([]*roomRow, error) {
		return db.roomRows(ctx, "SELECT "+roomColumns+" FROM rooms r WHERE r.user_id = ?"+fsql+" AND "+cond, append(append([]any{userID}, fargs...), args...)...)
	}, func(run int64) (bool, error) { return db.olderRoomExists(ctx, userID, run, f) })
	if err != nil || len(rooms) == 0 {
		return rooms, nil, more, err
	}
	if err := db.attachVisitors(ctx, rooms); err != nil {
		return nil, nil, false, err
	}
	names := make(map[int64]string, len(rooms))
	for _, r := range rooms {
		names[r.ID] = roomName(username, r.Consumer)
	}
	// The page is every room with oldest <= last_activity < before.
	oldest := rooms[len(rooms)-1].LastActivity
	rows, err := db.reader.QueryContext(ctx, `
		SELECT m.room_id, m.id, m.author, m.content, m.type, m.file, coalesce(m.client_id, ''), m.created,
			coalesce(m.agent_id, 0), m.agent, m.auto, m.private
		FROM rooms r JOIN messages m ON m.room_id = r.id AND m.id >= coalesce(
			(SELECT id FROM messages WHERE room_id = r.id ORDER BY id DESC LIMIT 1 OFFSET ?), 0)
		WHERE r.user_id = ? AND r.last_activity < ? AND r.last_activity >= ?`+fsql+`
		ORDER BY r.last_activity DESC, r.id DESC, m.id`, append([]any{roomMessages - 1, userID, before, oldest}, fargs...)...)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	msgs := make(map[int64][]byte, len(rooms))
	var cur int64 = -1
	var list []byte
	flush := func() {
		if cur >= 0 {
			msgs[cur] = append(list, ']')
		}
	}
	for rows.Next() {
		var roomID, created int64
		var m Message
		if err := rows.Scan(&roomID, &m.ID, &m.Author, &m.Content, &m.Type, &m.File, &m.ClientID, &created, &m.AgentID, &m.Agent, &m.Auto, &m.Private); err != nil {
			return nil, nil, false, err
		}
		name, ok := names[roomID]
		if !ok {
			continue // moved into the page after the first query
		}
		if roomID != cur {
			flush()
			cur = roomID
			list = make([]byte, 1, 256*roomMessages)
			list[0] = '['
		} else {
			list = append(list, ',')
		}
		m.Room = name
		list = appendMessageJSON(list, &m, created)
	}
	flush()
	return rooms, msgs, more, rows.Err()
}

// pageByActivity picks one page of rooms, newest activity first, with
// last_activity strictly before before, through query (which takes a
// condition on the rooms table r after its user_id, and its arguments)
// and olderExists (whether rooms older than a time remain).
//
// The cursor is a time, and a group commit gives every room it touches
// the same one, so a page never ends inside a run of rooms sharing a
// last_activity: the next page, strictly older, would skip the rest of
// the run. Such a page is cut before the run (fewer than limit rooms), or,
// when the run fills the whole page, extended to the end of the run (more
// than limit rooms).
func pageByActivity(before int64, limit int, query func(cond string, args ...any) ([]*roomRow, error), olderExists func(run int64) (bool, error)) ([]*roomRow, bool, error) {
	rooms, err := query("r.last_activity < ? ORDER BY r.last_activity DESC, r.id DESC LIMIT ?", before, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(rooms) <= limit {
		return rooms, false, nil
	}
	run := rooms[limit].LastActivity
	cut := limit
	for cut > 0 && rooms[cut-1].LastActivity == run {
		cut--
	}
	if cut > 0 {
		return rooms[:cut], true, nil
	}
	// The whole page is one instant: take all of it.
	if rooms, err = query("r.last_activity = ? ORDER BY r.id DESC", run); err != nil {
		return nil, false, err
	}
	more, err := olderExists(run)
	return rooms, more, err
}

// olderRoomExists reports whether the account has a room passing f with
// last activity before t.
func (db *DB) olderRoomExists(ctx context.Context, userID, t int64, f roomFilter) (bool, error) {
	var more bool
	fsql, fargs := f.where()
	err := db.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM rooms r WHERE r.user_id = ? AND r.last_activity < ?"+fsql+")",
		append([]any{userID, t}, fargs...)...).Scan(&more)
	return more, err
}

func (db *DB) roomRows(ctx context.Context, query string, args ...any) ([]*roomRow, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
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
// last message (one join on last_message_id), and whether more remain.
// Pages are cut as pageByActivity says.
func (db *DB) RoomSummaries(ctx context.Context, userID int64, username string, before int64, limit int, f roomFilter) ([]*roomRow, map[int64]*Message, bool, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	last := map[int64]*Message{}
	fsql, fargs := f.where()
	rooms, more, err := pageByActivity(before, limit, func(cond string, args ...any) ([]*roomRow, error) {
		clear(last)
		return db.summaryRows(ctx, username, last, fsql[len(" AND "):]+" AND "+cond, append(append([]any{userID}, fargs...), args...)...)
	}, func(run int64) (bool, error) { return db.olderRoomExists(ctx, userID, run, f) })
	if err == nil {
		err = db.attachVisitors(ctx, rooms)
	}
	if err != nil {
		return nil, nil, false, err
	}
	return rooms, last, more, nil
}

// summaryRows runs the RoomSummaries query with the condition cond (after
// the account's user_id), adding each room's last message to last.
func (db *DB) summaryRows(ctx context.Context, username string, last map[int64]*Message, cond string, args ...any) ([]*roomRow, error) {
	rows, err := db.reader.QueryContext(ctx, `
		SELECT r.id, r.user_id, r.consumer, r.consumer_email, r.unread, r.admin_read_up_to, r.visitor_read_up_to,
			coalesce(r.last_message_id, 0), r.created, r.last_activity, `+assigneeColumns+`,
			m.id, m.author, m.content, m.type, m.file, m.client_id, m.created, m.agent_id, m.agent, coalesce(m.auto, 0), coalesce(m.private, 0)
		FROM rooms r LEFT JOIN messages m ON m.id = r.last_message_id
		WHERE r.user_id = ? AND `+cond, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rooms []*roomRow
	for rows.Next() {
		var r roomRow
		var id, created sql.NullInt64
		var author, content, typ, file, clientID, agent sql.NullString
		var agentID sql.NullInt64
		var auto, private bool
		if err := rows.Scan(&r.ID, &r.UserID, &r.Consumer, &r.Email, &r.Unread, &r.AdminRead, &r.VisitorRead, &r.LastMessage,
			&r.Created, &r.LastActivity, &r.Status, &r.AssigneeID, &r.AssigneeName, &id, &author, &content, &typ, &file, &clientID, &created, &agentID, &agent, &auto, &private); err != nil {
			return nil, err
		}
		rooms = append(rooms, &r)
		if id.Valid {
			last[r.ID] = &Message{ID: id.Int64, Author: author.String, Content: content.String, Type: typ.String,
				File: file.String, Room: roomName(username, r.Consumer), Created: formatTime(created.Int64), ClientID: clientID.String,
				Agent: agent.String, AgentID: agentID.Int64, Auto: auto, Private: private}
		}
	}
	return rooms, rows.Err()
}

// MarkRead records that one side has read a room up to message id upTo,
// never moving backwards nor past the room's last message (a mark past it
// would hide later messages from the unread count). When the admin reads,
// unread becomes the number of the visitor's messages after the mark. It
// returns the stored mark and whether it moved; a mark that does not move
// is not written.
func (db *DB) MarkRead(ctx context.Context, roomID int64, admin bool, upTo int64) (mark int64, moved bool, err error) {
	q := `UPDATE rooms SET
		visitor_read_up_to = min(?1, coalesce(last_message_id, 0))
		WHERE id = ?2 AND visitor_read_up_to < min(?1, coalesce(last_message_id, 0))
		RETURNING visitor_read_up_to`
	if admin {
		q = `UPDATE rooms SET
			admin_read_up_to = min(?1, coalesce(last_message_id, 0)),
			unread = (SELECT count(*) FROM messages WHERE room_id = rooms.id
				AND id > min(?1, coalesce(rooms.last_message_id, 0)) AND author = rooms.consumer)
			WHERE id = ?2 AND admin_read_up_to < min(?1, coalesce(last_message_id, 0))
			RETURNING admin_read_up_to`
	}
	err = db.writer.QueryRowContext(ctx, q, upTo, roomID).Scan(&mark)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return mark, true, nil
}

// eraseWait bounds how long DeleteRoom waits for the WAL to be emptied.
const eraseWait = 5 * time.Second

// DeleteRoom erases a room with its messages and files (ON DELETE
// CASCADE), and then the WAL: secure_delete (see dsn) has zeroed the
// deleted content in the pages the delete wrote, and the TRUNCATE
// checkpoint copies those pages into the file and empties the WAL, which
// still held the content as it was written. errErased reports that the
// rows are gone but the WAL could not be emptied in time (readers kept it
// busy); the idle checkpoint (checkpointLoop) empties it later.
func (db *DB) DeleteRoom(ctx context.Context, roomID int64) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM rooms WHERE id = ?", roomID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		return eraseFromIndexTx(ctx, tx, true)
	})
	if err != nil {
		return err
	}
	if err := db.truncateWAL(ctx, eraseWait); err != nil {
		return fmt.Errorf("%w: %w", errWALNotErased, err)
	}
	return nil
}

// errWALNotErased: the rows are deleted, but the WAL still holds them.
var errWALNotErased = errors.New("room deleted; the WAL could not be emptied yet")

// EmptyRoomsBefore lists up to limit rooms (of any account) with ids
// after after that never got a message and were created before t (Unix
// ms), in id order.
func (db *DB) EmptyRoomsBefore(ctx context.Context, t, after int64, limit int) ([]int64, error) {
	return queryIDs(ctx, db.reader, "SELECT id FROM rooms WHERE id > ? AND last_message_id IS NULL AND created < ? ORDER BY id LIMIT ?", after, t, limit)
}

// queryIDs runs a query of one integer column (on the reader, the writer
// or in a transaction) and returns its values in order.
func queryIDs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// DeleteEmptyRooms deletes those of the rooms that still have no message,
// in one transaction, and returns how many went.
func (db *DB) DeleteEmptyRooms(ctx context.Context, ids []int64) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, "DELETE FROM rooms WHERE id = ? AND last_message_id IS NULL", id)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		if n == 0 {
			return nil
		}
		return eraseFromIndexTx(ctx, tx, false)
	})
	return n, err
}

// eraseFromIndexTx makes the full-text indexes forget deleted rows for
// good. An FTS4 delete only appends a "deleted" marker segment: the words
// stay in the old segments (in messages_fts_segments / _segdir) until those
// are merged. 'optimize' merges every segment into one new one and frees
// the old pages, which secure_delete zeroes. It rewrites the whole index:
// the price of erasure that erases (docs/PERFORMANCE.md has the figure).
// messages too: also messages_fts (the rooms had messages).
func eraseFromIndexTx(ctx context.Context, tx *sql.Tx, messages bool) error {
	if messages {
		if _, err := tx.ExecContext(ctx, "INSERT INTO messages_fts(messages_fts) VALUES ('optimize')"); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO rooms_fts(rooms_fts) VALUES ('optimize')")
	return err
}
