package main

// "Email me this conversation" (issue 13, item 7): a visitor who gave an
// email can have the conversation's transcript sent there, through the
// mail outbox. POST /chatbot/{username}/{consumer}/transcript, authorised
// like the visitor's chat socket by the consumer id alone; the mail goes
// only to the email stored on the room (never to an address in the
// request), at most once per transcriptEvery per room, and never carries a
// private note.

import (
	"context"
	"database/sql"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// transcriptEvery is how often one room's transcript may be emailed.
const transcriptEvery = 10 * time.Minute

// maxTranscriptMessages bounds the email: the newest this many messages.
const maxTranscriptMessages = 500

// handleEmailTranscript handles "POST /chatbot/{username}/{consumer}/transcript"
// (a JSON body, "{}"): 202 when the transcript is queued; 409 when mail is
// off or the conversation has no email; 429 with Retry-After within
// transcriptEvery of the last one; 404 for no such conversation.
func (s *Server) handleEmailTranscript(w http.ResponseWriter, r *http.Request) {
	// JSON only: a cross-site HTML form cannot send it without a preflight.
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		s.writeError(w, r, errorf(http.StatusUnsupportedMediaType, "Send a JSON body (Content-Type: application/json)."))
		return
	}
	var body struct{}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	username := strings.ToLower(r.PathValue("username"))
	consumer := r.PathValue("consumer")
	if problem := consumerProblem(consumer, username); problem != "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "The consumer id %s", problem))
		return
	}
	if !s.MailEnabled() {
		s.writeError(w, r, errorf(http.StatusConflict, "Email is not set up on this server."))
		return
	}
	u, err := s.db.BusinessByHandle(r.Context(), username)
	if errors.Is(err, errNotFound) {
		s.writeError(w, r, errorf(http.StatusNotFound, "There is no chatbot with that username."))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	room, err := s.db.RoomByConsumer(r.Context(), u.ID, consumer)
	if errors.Is(err, errNotFound) {
		s.writeError(w, r, errorf(http.StatusNotFound, "There is no such conversation."))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if room.Email == "" {
		s.writeError(w, r, errorf(http.StatusConflict, "Give your email first, then the conversation can be sent to it."))
		return
	}
	if wait := s.transcripts.take(room.ID, s.db.now()); wait > 0 {
		s.tooMany(w, r, wait, "The conversation was emailed a moment ago; you can ask again in a few minutes.")
		return
	}
	if err := s.enqueueTranscript(r.Context(), u, room); err != nil {
		s.transcripts.forget(room.ID)
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"detail": "The conversation is on its way to the email you gave."})
}

// enqueueTranscript queues the room's transcript to its email.
func (s *Server) enqueueTranscript(ctx context.Context, u *User, room *roomRow) error {
	msgs, err := s.db.AllMessages(ctx, room.ID, roomName(u.Username, room.Consumer))
	if err != nil {
		return err
	}
	private, err := s.db.privateMessageIDs(ctx, room.ID)
	if err != nil {
		return err
	}
	c, err := s.db.ChatbotByUser(ctx, u.ID, u.Username)
	if err != nil {
		return err
	}
	m := transcriptMail(publicURL(s.cfg), u, c.ChatbotName, room, msgs, private)
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		return s.outbox.Enqueue(ctx, tx, m)
	})
}

// transcriptMail builds the email: every message of the conversation the
// visitor could see (never a private note), oldest first, the newest
// maxTranscriptMessages at most, with a link back to the conversation.
func transcriptMail(base string, u *User, businessName string, room *roomRow, msgs []Message, private map[int64]bool) Mail {
	name := oneLine(businessName, 80)
	var quoted []quotedMessage
	for _, m := range msgs {
		if private[m.ID] {
			continue
		}
		q := quotedMessage{Author: name, Content: m.Content}
		switch {
		case m.Author == room.Consumer:
			q.Author = "You"
		case m.Agent != "" && m.Agent != name:
			q.Author = m.Agent + " (" + name + ")"
		}
		if m.File != "" {
			if p, err := url.PathUnescape(path.Base(m.File)); err == nil {
				q.File = p
				if q.Content == p {
					q.Content = "" // a file's message text is its name
				}
			}
		}
		if t, err := time.Parse(time.RFC3339Nano, m.Created); err == nil {
			q.At = t
		}
		quoted = append(quoted, q)
	}
	intro := "Your conversation with " + name + ", as you asked:"
	if len(quoted) > maxTranscriptMessages {
		intro = "Your conversation with " + name + ", as you asked (the newest " + strconv.Itoa(maxTranscriptMessages) + " messages):"
		quoted = quoted[len(quoted)-maxTranscriptMessages:]
	}
	if len(quoted) == 0 {
		intro = "Your conversation with " + name + " has no messages yet."
	}
	return Mail{
		UserID:     u.ID,
		To:         room.Email,
		ReplyTo:    u.Email,
		Subject:    "Your conversation with " + name,
		Paragraphs: append([]string{intro}, quoteParagraphs(quoted)...),
		Link:       base + "/chatbot/" + url.PathEscape(u.Username) + "/" + url.PathEscape(room.Consumer),
		LinkText:   "Continue the conversation",
	}
}

// privateMessageIDs lists the room's private notes (messages.private, the
// inbox's notes between agents), or none when the schema has no such
// column yet.
func (db *DB) privateMessageIDs(ctx context.Context, roomID int64) (map[int64]bool, error) {
	rows, err := db.reader.QueryContext(ctx, "SELECT id FROM messages WHERE room_id = ? AND private != 0", roomID)
	if err != nil {
		if strings.Contains(err.Error(), "no such column: private") {
			return nil, nil
		}
		return nil, err
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}
