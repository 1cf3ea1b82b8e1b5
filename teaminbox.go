package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// The team inbox (SPEC Part 2, "Conversations in a team inbox"): a room is
// open or resolved and may be assigned to one agent of the business; any
// change reaches every inbox of the business as room_updated. A visitor's
// new message reopens a resolved room (groupcommit.go). Agents may write
// private notes, which only agent sockets ever receive.

// migrationInbox is schema version 7.
const migrationInbox = `
ALTER TABLE rooms ADD COLUMN status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved'));
ALTER TABLE rooms ADD COLUMN assignee_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX rooms_by_assignee ON rooms (assignee_id) WHERE assignee_id IS NOT NULL;
ALTER TABLE messages ADD COLUMN private INTEGER NOT NULL DEFAULT 0;

-- Canned replies: inserted in the inbox composer with /shortcut.
CREATE TABLE canned (
    id          INTEGER PRIMARY KEY,
    business_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    shortcut    TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    UNIQUE (business_id, shortcut)
);
`

// Room states.
const (
	statusOpen     = "open"
	statusResolved = "resolved"
)

// status is the room's state as the API writes it.
func (r *roomRow) status() string {
	if r.Status == "" {
		return statusOpen
	}
	return r.Status
}

// assignee is the room's Assignee, or nil.
func (r *roomRow) assignee() *Assignee {
	if r.AssigneeID == 0 {
		return nil
	}
	return &Assignee{ID: r.AssigneeID, Name: r.AssigneeName}
}

// roomFilter selects the rooms of an inbox list. Only rooms with at least
// one message are ever listed: a conversation starts with a message.
type roomFilter struct {
	status   string // "open", "resolved" or "" (all)
	assignee int64  // an agent's id, 0 (anyone or nobody) or noAssignee
}

// noAssignee in roomFilter.assignee lists unassigned rooms only.
const noAssignee = -1

// where is the filter as SQL conditions on rooms r, each after " AND ",
// and their arguments.
func (f roomFilter) where() (string, []any) {
	q := " AND r.last_message_id IS NOT NULL"
	var args []any
	if f.status != "" {
		q += " AND r.status = ?"
		args = append(args, f.status)
	}
	switch {
	case f.assignee == noAssignee:
		q += " AND r.assignee_id IS NULL"
	case f.assignee > 0:
		q += " AND r.assignee_id = ?"
		args = append(args, f.assignee)
	}
	return q, args
}

// parseRoomFilter reads status and assignee (as in GET /chatbot/api/rooms)
// for agent me; the problems are per field.
func parseRoomFilter(status, assignee string, me int64) (roomFilter, map[string]string) {
	var f roomFilter
	bad := map[string]string{}
	switch status {
	case "", statusOpen:
		f.status = statusOpen
	case statusResolved:
		f.status = statusResolved
	case "all":
	default:
		bad["status"] = "Use open, resolved or all."
	}
	switch assignee {
	case "":
	case "me":
		f.assignee = me
	case "none":
		f.assignee = noAssignee
	default:
		id, err := strconv.ParseInt(assignee, 10, 64)
		if err != nil || id < 1 {
			bad["assignee"] = "Use me, none or an agent's id."
		}
		f.assignee = id
	}
	if len(bad) > 0 {
		return f, bad
	}
	return f, nil
}

// fetchRoomsFilter reads fetch_rooms' optional status and assignee (a
// string, or an agent's id as a number).
func fetchRoomsFilter(f *inFrame, me int64) (roomFilter, bool) {
	var status, assignee string
	if len(f.Status) > 0 && string(f.Status) != "null" && json.Unmarshal(f.Status, &status) != nil {
		return roomFilter{}, false
	}
	if len(f.Assignee) > 0 && string(f.Assignee) != "null" && json.Unmarshal(f.Assignee, &assignee) != nil {
		var id int64
		if json.Unmarshal(f.Assignee, &id) != nil {
			return roomFilter{}, false
		}
		assignee = strconv.FormatInt(id, 10)
	}
	filter, bad := parseRoomFilter(status, assignee, me)
	return filter, bad == nil
}

// reopenRoomSQL runs in the group commit for each room a visitor wrote in:
// it changes (and writes) a row only when the room is resolved.
const reopenRoomSQL = "UPDATE rooms SET status = 'open' WHERE id = ? AND status = 'resolved'"

// RoomSummaryByID reads one room of a business with its last message, as
// the list shows it.
func (db *DB) RoomSummaryByID(ctx context.Context, businessID int64, username string, roomID int64) (*roomRow, *Message, error) {
	last := map[int64]*Message{}
	rows, err := db.summaryRows(ctx, username, last, "r.id = ?", businessID, roomID)
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, errNotFound
	}
	return rows[0], last[rows[0].ID], nil
}

// isAgentOf reports whether user id is an agent of the business.
func (db *DB) isAgentOf(ctx context.Context, businessID, id int64) (bool, error) {
	var ok bool
	err := db.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE id = ? AND business_id = ?)", id, businessID).Scan(&ok)
	return ok, err
}

// UpdateRoomState sets a room's status and/or assignee (nil: unchanged;
// assignee 0: nobody). The assignee must be an agent of the room's
// business at the moment of writing: errNotFound otherwise.
func (db *DB) UpdateRoomState(ctx context.Context, roomID, businessID int64, status *string, assignee *int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if status != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE rooms SET status = ? WHERE id = ?", *status, roomID); err != nil {
				return err
			}
		}
		if assignee != nil {
			var id any
			if *assignee != 0 {
				id = *assignee
			}
			res, err := tx.ExecContext(ctx, `UPDATE rooms SET assignee_id = ?1 WHERE id = ?2
				AND (?1 IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = ?1 AND business_id = ?3))`, id, roomID, businessID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errNotFound
			}
		}
		return nil
	})
}

// roomSummaryFrame is room_updated: the room as the list shows it.
// consumer and consumer_email stay at the top for the clients that knew
// the earlier room_updated (an email given for an existing room).
type roomSummaryFrame struct {
	Command       string      `json:"command"`
	Consumer      string      `json:"consumer"`
	ConsumerEmail string      `json:"consumer_email"`
	Room          RoomSummary `json:"room"`
}

// roomSummary reads a room as a RoomSummary.
func (s *Server) roomSummary(ctx context.Context, businessID int64, username string, roomID int64) (RoomSummary, error) {
	rr, last, err := s.db.RoomSummaryByID(ctx, businessID, username, roomID)
	if err != nil {
		return RoomSummary{}, err
	}
	return rr.summary(last, s.hub.VisitorsOnline([]int64{rr.ID})[0]), nil
}

// publishRoomUpdated tells every inbox of the business (and the room's
// agent chat sockets) of a room's new state.
func (s *Server) publishRoomUpdated(ctx context.Context, businessID int64, username string, roomID int64) {
	sum, err := s.roomSummary(ctx, businessID, username, roomID)
	if err != nil {
		if !errors.Is(err, errNotFound) {
			s.log.Error("room_updated", "err", err)
		}
		return
	}
	frame := encodeFrame(roomSummaryFrame{Command: "room_updated", Consumer: sum.Consumer, ConsumerEmail: sum.ConsumerEmail, Room: sum})
	s.hub.publish(businessID, roomID, toAdmins, frame, nil)
}

// handleUpdateRoom handles "PATCH /chatbot/api/rooms/{consumer}": status
// and/or assignee_id (an agent of the business, or null).
func (s *Server) handleUpdateRoom(w http.ResponseWriter, r *http.Request, u *User) {
	room, err := s.roomOf(r, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil || body == nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) || isTimeout(err) {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, errorf(http.StatusBadRequest, "The body must be a JSON object."))
		return
	}
	bad := map[string]string{}
	var status *string
	var assignee *int64
	if raw, ok := body["status"]; ok {
		var v string
		if json.Unmarshal(raw, &v) != nil || (v != statusOpen && v != statusResolved) {
			bad["status"] = "Use open or resolved."
		} else {
			status = &v
		}
	}
	if raw, ok := body["assignee_id"]; ok {
		var id int64
		if string(raw) == "null" {
			assignee = &id
		} else if json.Unmarshal(raw, &id) != nil || id < 1 {
			bad["assignee_id"] = "Must be an agent's id or null."
		} else if ok, err := s.db.isAgentOf(r.Context(), u.BusinessID, id); err != nil {
			s.writeError(w, r, err)
			return
		} else if !ok {
			bad["assignee_id"] = "There is no such agent in your team."
		} else {
			assignee = &id
		}
	}
	if len(bad) > 0 {
		s.writeError(w, r, fieldErrors(bad))
		return
	}
	if status == nil && assignee == nil {
		s.writeError(w, r, fieldErrors(map[string]string{"status": "Give status or assignee_id."}))
		return
	}
	if err := s.db.UpdateRoomState(r.Context(), room.ID, u.BusinessID, status, assignee); err != nil {
		if errors.Is(err, errNotFound) {
			err = fieldErrors(map[string]string{"assignee_id": "There is no such agent in your team."})
		}
		s.writeError(w, r, err)
		return
	}
	sum, err := s.roomSummary(r.Context(), u.BusinessID, u.Business, room.ID)
	if err != nil {
		if errors.Is(err, errNotFound) {
			err = errNoConversation
		}
		s.writeError(w, r, err)
		return
	}
	frame := encodeFrame(roomSummaryFrame{Command: "room_updated", Consumer: sum.Consumer, ConsumerEmail: sum.ConsumerEmail, Room: sum})
	s.hub.publish(u.BusinessID, room.ID, toAdmins, frame, nil)
	writeJSON(w, http.StatusOK, sum)
}

// VisitorJSON is an entry of GET /chatbot/api/visitors. Visitor is the
// visitor's details when known (null until then).
type VisitorJSON struct {
	Consumer    string          `json:"consumer"`
	Online      bool            `json:"online"`
	Visitor     json.RawMessage `json:"visitor"`
	HasMessages bool            `json:"has_messages"`
}

// handleVisitors handles "GET /chatbot/api/visitors": the visitors with a
// chat socket open now.
func (s *Server) handleVisitors(w http.ResponseWriter, r *http.Request, u *User) {
	ids := s.hub.OnlineRooms(u.BusinessID)
	out := []VisitorJSON{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)] // well under SQLite's variable limit
		ids = ids[len(chunk):]
		rows, err := s.db.roomsByID(r.Context(), u.BusinessID, chunk)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, rr := range rows {
			out = append(out, VisitorJSON{Consumer: rr.Consumer, Online: true, Visitor: json.RawMessage("null"), HasMessages: rr.LastMessage != 0})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"visitors": out})
}

// roomsByID reads a business's rooms among ids, newest activity first.
func (db *DB) roomsByID(ctx context.Context, businessID int64, ids []int64) ([]*roomRow, error) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, businessID)
	q := make([]byte, 0, 2*len(ids))
	for i, id := range ids {
		if i > 0 {
			q = append(q, ',')
		}
		q = append(q, '?')
		args = append(args, id)
	}
	return db.roomRows(ctx, "SELECT "+roomColumns+" FROM rooms r WHERE r.user_id = ? AND r.id IN ("+string(q)+") ORDER BY r.last_activity DESC, r.id DESC", args...)
}

// lastPublicSQL finds the newest message a visitor may see at or before
// an id: a backward walk of the (room_id, id) index past any notes.
const lastPublicSQL = "SELECT coalesce(max(id), 0) FROM messages WHERE room_id = ? AND id <= ? AND private = 0"

// publishVisitorRead tells the room's visitor sockets that an agent read
// up to mark, as the newest message they can see: a read mark on a
// private note would tell the visitor that a note exists. frame is the
// agents' read frame, reused when mark is such a message already.
func (s *Server) publishVisitorRead(c *client, mark int64, frame []byte) {
	var public int64
	if err := s.db.lastPublic.QueryRowContext(context.Background(), c.roomID, mark).Scan(&public); err != nil {
		s.log.Error("read: the visitor's mark", "err", err)
		return
	}
	if public == 0 {
		return
	}
	if public != mark {
		frame = encodeFrame(readFrame{Command: "read", Consumer: c.consumer, By: c.author(), UpTo: public})
	}
	s.hub.publish(c.userID, c.roomID, toVisitors, frame, nil)
}
