package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Room list and history paging limits.
const (
	defaultPage = 50
	maxPage     = 200
)

// pageLimit reads ?limit= (default defaultPage, at most maxPage).
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fieldErrors(map[string]string{"limit": "Must be a positive number."})
	}
	return min(n, maxPage), nil
}

// pageByMessageID reads a page's limit (pageLimit) and before, a message
// id (0 when absent): the history and search pages.
func pageByMessageID(r *http.Request) (limit int, before int64, err error) {
	if limit, err = pageLimit(r); err != nil {
		return 0, 0, err
	}
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return 0, 0, fieldErrors(map[string]string{"before": "Must be a message id."})
		}
	}
	return limit, before, nil
}

// handleListRooms handles "GET /chatbot/api/rooms": the account's rooms,
// newest activity first. before is the last_activity of the previous
// page's last room (RFC 3339).
func (s *Server) handleListRooms(w http.ResponseWriter, r *http.Request, u *User) {
	limit, err := pageLimit(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		var ok bool
		if before, ok = parseActivity(v); !ok {
			s.writeError(w, r, fieldErrors(map[string]string{"before": "Must be a time like 2025-01-02T15:04:05.000Z (a room's last_activity)."}))
			return
		}
	}
	q := r.URL.Query()
	filter, bad := parseRoomFilter(q.Get("status"), q.Get("assignee"), u.ID)
	if bad != nil {
		s.writeError(w, r, fieldErrors(bad))
		return
	}
	rows, last, more, err := s.db.RoomSummaries(r.Context(), u.BusinessID, u.Business, before, limit, filter)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := make([]int64, len(rows))
	for i, rr := range rows {
		ids[i] = rr.ID
	}
	online := s.hub.VisitorsOnline(ids)
	rooms := make([]RoomSummary, len(rows))
	for i, rr := range rows {
		rooms[i] = rr.summary(last[rr.ID], online[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rooms, "has_more": more})
}

// parseActivity reads a room-list cursor: a room's last_activity as the
// API writes it (RFC 3339), in Unix milliseconds.
func parseActivity(v string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// errNoConversation answers any request for a room that does not exist
// or is not the asker's.
var errNoConversation = errorf(http.StatusNotFound, "There is no such conversation.")

// conversation finds an account's room by consumer id, or errNoConversation.
func (s *Server) conversation(ctx context.Context, userID int64, consumer string) (*roomRow, error) {
	if !consumerRE.MatchString(consumer) {
		return nil, errNoConversation
	}
	room, err := s.db.RoomByConsumer(ctx, userID, consumer)
	if errors.Is(err, errNotFound) {
		return nil, errNoConversation
	}
	return room, err
}

// roomOf finds the signed-in account's room named by {consumer}.
func (s *Server) roomOf(r *http.Request, u *User) (*roomRow, error) {
	return s.conversation(r.Context(), u.BusinessID, r.PathValue("consumer"))
}

// handleRoomMessages handles "GET /chatbot/api/rooms/{consumer}/messages":
// a page of history, oldest first; before is a message id.
func (s *Server) handleRoomMessages(w http.ResponseWriter, r *http.Request, u *User) {
	room, err := s.roomOf(r, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, before, err := pageByMessageID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs, more, err := s.db.MessagesPage(r.Context(), room.ID, roomName(u.Business, room.Consumer), before, limit, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": msgs, "has_more": more})
}

// roomExport is the JSON document of a conversation export.
type roomExport struct {
	Username      string    `json:"username"`
	Consumer      string    `json:"consumer"`
	ConsumerEmail string    `json:"consumer_email"`
	Created       string    `json:"created"`
	LastActivity  string    `json:"last_activity"`
	Exported      string    `json:"exported"`
	Messages      []Message `json:"messages"`
}

// handleExportRoom handles "GET /chatbot/api/rooms/{consumer}/export": the
// whole conversation as a JSON download. Files appear as their URLs.
func (s *Server) handleExportRoom(w http.ResponseWriter, r *http.Request, u *User) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "html" && format != "text" {
		s.writeError(w, r, fieldErrors(map[string]string{"format": "Use json, html or text."}))
		return
	}
	room, err := s.roomOf(r, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msgs, err := s.db.AllMessages(r.Context(), room.ID, roomName(u.Business, room.Consumer))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == "html" || format == "text" {
		s.writeTranscript(w, r, u, room, msgs, format)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="conversation-`+room.Consumer+`.json"`)
	writeJSON(w, http.StatusOK, roomExport{Username: u.Business, Consumer: room.Consumer, ConsumerEmail: room.Email,
		Created: formatTime(room.Created), LastActivity: formatTime(room.LastActivity),
		Exported: formatTime(s.db.nowMillis()), Messages: msgs})
}

// handleDeleteRoom handles "DELETE /chatbot/api/rooms/{consumer}": the
// room, its messages and its files are erased.
func (s *Server) handleDeleteRoom(w http.ResponseWriter, r *http.Request, u *User) {
	room, err := s.roomOf(r, u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	err = s.db.DeleteRoom(r.Context(), room.ID)
	if errors.Is(err, errWALNotErased) {
		// The conversation is gone for every reader; its bytes leave the
		// WAL at the next idle checkpoint.
		s.log.Warn("delete room: WAL not emptied", "err", err)
		err = nil
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.tellRoomClosed(u.BusinessID, room.ID)
	w.WriteHeader(http.StatusNoContent)
}
