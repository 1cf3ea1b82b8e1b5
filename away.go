package main

// The away reply (SPEC Part 2, "Hours and away"): a visitor's message
// outside business hours gets the away message back, once per closed
// period, as a message with "auto":true written by the business's handle,
// stored in the same group-commit transaction right after the visitor's
// message and published right after it. Hours open but no agent online
// posts nothing: the window's away state says so instead.
//
// The hot path pays one cached lookup (DB.awayConfig) and, only when the
// business has hours, an isOpen check; the room's away_replied column is
// read and written only outside hours.

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
)

// awayReply says whether a visitor message to userID's business, sent
// now, asks for the away message: the start of the current closed period
// (Unix ms, > 0) and the message, or 0 when open, always open, or the
// away message is empty.
func (s *Server) awayReply(userID int64) (since int64, message string) {
	cfg, err := s.db.awayConfig(context.Background(), userID)
	if err != nil {
		// The visitor's message matters more than the away reply.
		s.log.Error("away reply: reading hours", "err", err)
		return 0, ""
	}
	if cfg.hours == nil || cfg.message == "" {
		return 0, ""
	}
	now := s.db.now()
	if cfg.hours.isOpen(now) {
		return 0, ""
	}
	closed := cfg.hours.closedSince(now)
	if closed.IsZero() {
		// Hours that never open: one closed period, forever.
		return 1, cfg.message
	}
	return max(closed.UnixMilli(), 1), cfg.message
}

// insertAwayReply, inside the group commit's transaction, stores the away
// message after op's visitor message unless the room had it during this
// closed period (rooms.away_replied ≥ op.awaySince). It returns the
// stored message, or nil.
func insertAwayReply(ctx context.Context, tx *sql.Tx, op *commitOp, room string, now int64) (*Message, error) {
	res, err := tx.ExecContext(ctx, "UPDATE rooms SET away_replied = ? WHERE id = ? AND away_replied < ?", now, op.roomID, op.awaySince)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	res, err = tx.ExecContext(ctx, "INSERT INTO messages (room_id, author, content, type, file, auto, created) VALUES (?, ?, ?, 'text', '', 1, ?)",
		op.roomID, op.username, op.awayMessage, now)
	if err != nil {
		return nil, mapInsertError(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, err
	}
	return &Message{ID: id, Author: op.username, Content: op.awayMessage, Type: "text", Room: room,
		Created: formatTime(now), Auto: true}, nil
}

// validateAwayFields checks the hours fields of a POST /chatbot/api body
// (hours.go has the rules), adding what is valid to set, as stored, and
// each problem to errs by field.
func validateAwayFields(raw map[string]any, set, errs map[string]string) {
	if v, ok := raw["hours"]; ok {
		b, err := json.Marshal(v)
		if err != nil {
			errs["hours"] = "Must be null or an object."
		} else if h, problems := parseHours(b); len(problems) > 0 {
			maps.Copy(errs, problems)
		} else if h == nil {
			set["hours"] = ""
		} else if norm, err := h.MarshalJSON(); err != nil {
			errs["hours"] = "Must be null or an object."
		} else {
			set["hours"] = string(norm)
		}
	}
	if v, ok := raw["awayMessage"]; ok {
		if msg, problem := validateAwayMessage(v); problem != "" {
			errs["awayMessage"] = problem
		} else {
			set["awayMessage"] = msg
		}
	}
	if v, ok := raw["askEmail"]; ok {
		if ask, problem := validateAskEmail(v); problem != "" {
			errs["askEmail"] = problem
		} else {
			set["askEmail"] = ask
		}
	}
}
