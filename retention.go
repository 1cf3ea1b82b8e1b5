package main

// Retention (issue 11): a business may have its conversations erased
// automatically once they have been quiet for retentionDays. Once a day the
// server erases every room whose last activity is older, through the same
// path as DELETE /chatbot/api/rooms/{consumer} (DB.DeleteRoom): the room,
// its messages, its files and everything else that hangs off the room
// (ON DELETE CASCADE, and whatever the room deletion removes with it), with
// secure_delete zeroing the freed pages, then a TRUNCATE checkpoint so the
// text is not left in the WAL either.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxRetentionDays is the longest retention accepted: ten years.
const maxRetentionDays = 3650

// retentionColumn is the chatbot's retention column, scanned after the
// hours columns (db_chatbots.go).
const retentionColumn = "retention_days"

// migrationRetention adds the column: 0, the default, keeps everything.
const migrationRetention = `ALTER TABLE chatbots ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0`

// validateRetention checks "retentionDays" in a chatbot update: a whole
// number of days from 0 (keep forever) to maxRetentionDays.
func validateRetention(raw map[string]any, set, errs map[string]string) {
	v, ok := raw["retentionDays"]
	if !ok {
		return
	}
	f, isNum := v.(float64)
	if !isNum || f != math.Trunc(f) || f < 0 || f > maxRetentionDays {
		errs["retentionDays"] = fmt.Sprintf("Must be a whole number of days from 0 (keep forever) to %d.", maxRetentionDays)
		return
	}
	set["retentionDays"] = strconv.Itoa(int(f))
}

// retentionAssigns adds retentionDays, when present in set, to an UPDATE.
func retentionAssigns(set map[string]string, assigns []string, args []any) ([]string, []any) {
	if v, ok := set["retentionDays"]; ok {
		n, _ := strconv.Atoi(v)
		assigns = append(assigns, retentionColumn+" = ?")
		args = append(args, n)
	}
	return assigns, args
}

// expiredRoom is a room past its business's retention.
type expiredRoom struct{ businessID, roomID int64 }

// ExpiredRooms lists up to limit rooms, of every business with a
// retention, whose last activity is more than its retentionDays before
// now (Unix ms), with room ids after after, in id order.
func (db *DB) ExpiredRooms(ctx context.Context, now, after int64, limit int) ([]expiredRoom, error) {
	rows, err := db.reader.QueryContext(ctx,
		`SELECT r.user_id, r.id FROM chatbots c JOIN rooms r ON r.user_id = c.user_id
		 WHERE c.retention_days > 0 AND r.id > ? AND r.last_activity < ? - c.retention_days * 86400000
		 ORDER BY r.id LIMIT ?`, after, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []expiredRoom
	for rows.Next() {
		var e expiredRoom
		if err := rows.Scan(&e.businessID, &e.roomID); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// retentionLoop erases expired conversations a minute after start (or
// after retentionEvery, if shorter) and then every retentionEvery (a day).
func (s *Server) retentionLoop() {
	defer close(s.retentionDone)
	every := s.cfg.retentionEvery
	if every <= 0 {
		return
	}
	t := time.NewTimer(min(every, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-s.stopPurge:
			return
		case <-t.C:
			if n, err := s.eraseExpired(context.Background()); err != nil {
				s.log.Warn("retention: erase expired conversations", "err", err, "erased", n)
			} else if n > 0 {
				s.log.Info("retention: erased expired conversations", "rooms", n)
			}
			t.Reset(every)
		}
	}
}

// eraseExpired erases every room past its business's retention and
// returns how many went. Each room goes through DeleteRoom, as an owner's
// delete does, and its visitor's open window is told it closed.
func (s *Server) eraseExpired(ctx context.Context) (int, error) {
	now := s.db.nowMillis()
	total := 0
	var after int64
	for {
		rooms, err := s.db.ExpiredRooms(ctx, now, after, purgeBatch)
		if err != nil {
			return total, err
		}
		if len(rooms) == 0 {
			break
		}
		after = rooms[len(rooms)-1].roomID
		for _, r := range rooms {
			select {
			case <-s.stopPurge:
				return total, nil // shutting down: the rest tomorrow
			default:
			}
			err := s.db.DeleteRoom(ctx, r.roomID)
			if errors.Is(err, errNotFound) {
				continue // deleted meanwhile
			}
			if err != nil && !errors.Is(err, errWALNotErased) {
				return total, err
			}
			total++
			s.tellRoomClosed(r.businessID, r.roomID)
		}
	}
	if total > 0 {
		// DeleteRoom has emptied the WAL after each room unless readers
		// kept it busy; make sure, once more, for the whole run.
		if err := s.db.truncateWAL(ctx, eraseWait); err != nil {
			return total, fmt.Errorf("%w: %w", errWALNotErased, err)
		}
	}
	return total, nil
}
