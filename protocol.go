package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The socket protocol: client and server frames, dispatch, the commands,
// and publishing what the group commit stored.

// Protocol limits.
const (
	// maxClientID is the longest client_id accepted, in bytes.
	maxClientID = 100
	// maxFetch is the most messages one fetch_messages answers.
	maxFetch = 200
	// defaultFetchRooms is how many rooms fetch_rooms answers without a
	// limit (at most maxPage with one): the newest page, so the original
	// client, which sends no fields, gets a bounded frame.
	defaultFetchRooms = 100
)

// inFrame is a client frame. Fields stay raw until the command says which
// ones matter, so a bad value in an irrelevant field is ignored.
type inFrame struct {
	Command  json.RawMessage `json:"command"`
	Message  json.RawMessage `json:"message"`
	Before   json.RawMessage `json:"before"`
	Limit    json.RawMessage `json:"limit"`
	Typing   json.RawMessage `json:"typing"`
	UpTo     json.RawMessage `json:"up_to"`
	Consumer json.RawMessage `json:"consumer"`
	Email    json.RawMessage `json:"email"`
	Status   json.RawMessage `json:"status"`
	Assignee json.RawMessage `json:"assignee"`
	Visible  json.RawMessage `json:"visible"`
}

// Server frames.
type (
	errorFrame struct {
		Command string `json:"command"`
		Error   string `json:"error"`
		Detail  string `json:"detail"`
	}
	messageFrame struct {
		Command string   `json:"command"`
		Message *Message `json:"message"`
	}
	messagesFrame struct {
		Command  string    `json:"command"`
		Messages []Message `json:"messages"`
		HasMore  bool      `json:"has_more"`
	}
	presenceFrame struct {
		Command  string `json:"command"`
		Consumer string `json:"consumer"`
		Online   bool   `json:"online"`
	}
	typingFrame struct {
		Command  string `json:"command"`
		Consumer string `json:"consumer"`
		By       string `json:"by"`
		Typing   bool   `json:"typing"`
	}
	readFrame struct {
		Command  string `json:"command"`
		Consumer string `json:"consumer"`
		By       string `json:"by"`
		UpTo     int64  `json:"up_to"`
	}
)

// encodeFrame marshals a server frame once, for any number of sockets.
func encodeFrame(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("encode frame: " + err.Error()) // our own types always encode
	}
	return b
}

// Error codes of error frames.
const (
	codeBadJSON        = "bad_json"
	codeBadFrame       = "bad_frame"
	codeUnknownCommand = "unknown_command"
	codeBadField       = "bad_field"
	codeForbidden      = "forbidden"
	codeRateLimited    = "rate_limited"
	codeNotFound       = "not_found"
	codeInternal       = "internal"
)

// fail sends the socket an error frame; the socket stays open.
func (c *client) fail(code, detail string) {
	c.push(encodeFrame(errorFrame{Command: "error", Error: code, Detail: detail}))
}

// dispatch handles one client frame. It returns false when the socket is
// to be closed.
func (s *Server) dispatch(c *client, data []byte) bool {
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.fail(codeBadJSON, "The frame must be a JSON object.")
		return true
	}
	var cmd string
	if len(f.Command) == 0 || json.Unmarshal(f.Command, &cmd) != nil || cmd == "" {
		c.fail(codeUnknownCommand, "The frame needs a \"command\" string.")
		return true
	}
	switch c.kind {
	case roomSocket:
		switch {
		case cmd == "new_room" || cmd == "room":
			// It creates a room and tells the inbox: rate-limited like
			// a message. An agent's socket may send it too (the original
			// test page does, from the owner's browser).
			if refused, open := s.limited(c); refused {
				return open
			}
			s.cmdNewRoom(c, &f)
		case !c.admin:
			c.fail(codeForbidden, "A visitor can only announce a room on this socket.")
		case cmd == "fetch_rooms":
			s.cmdFetchRooms(c, &f)
		case cmd == "visibility":
			s.cmdVisibility(c, &f) // push_notify.go
		case knownCommand(cmd):
			c.fail(codeForbidden, "Only fetch_rooms is available on the room socket; open /ws/chat/ for one conversation.")
		default:
			c.fail(codeUnknownCommand, "Unknown command.")
		}
	case chatSocket:
		switch cmd {
		case "fetch_messages":
			s.cmdFetchMessages(c, &f)
		case "new_message":
			return s.cmdNewMessage(c, &f)
		case "typing":
			s.cmdTyping(c, &f)
		case "read":
			s.cmdRead(c, &f)
		case "visitor":
			return s.cmdVisitor(c, data) // visitor.go
		case "fetch_rooms", "new_room", "room":
			c.fail(codeForbidden, "That command belongs to the room socket.")
		default:
			c.fail(codeUnknownCommand, "Unknown command.")
		}
	}
	return true
}

func knownCommand(cmd string) bool {
	switch cmd {
	case "fetch_rooms", "new_room", "room", "fetch_messages", "new_message", "typing", "read", "visitor":
		return true
	}
	return false
}

// cmdFetchRooms answers fetch_rooms: a page of rooms, newest activity
// first, each with its last messages: the newest defaultFetchRooms, or
// "limit" (at most maxPage) rooms with last activity before "before" (a
// room's last_activity, as in the REST list), and has_more. The frame can
// be megabytes, so it is written by hand rather than through
// encoding/json.
func (s *Server) cmdFetchRooms(c *client, f *inFrame) {
	limit := int64(defaultFetchRooms)
	if !optionalInt(f.Limit, &limit) || limit < 1 {
		c.fail(codeBadField, "\"limit\" must be a positive number.")
		return
	}
	var before int64
	if len(f.Before) > 0 && string(f.Before) != "null" {
		var v string
		ok := json.Unmarshal(f.Before, &v) == nil
		if ok {
			before, ok = parseActivity(v)
		}
		if !ok {
			c.fail(codeBadField, "\"before\" must be a time like 2025-01-02T15:04:05.000Z (a room's last_activity).")
			return
		}
	}
	filter, ok := fetchRoomsFilter(f, c.agentID)
	if !ok {
		c.fail(codeBadField, "\"status\" must be open, resolved or all, and \"assignee\" me, none or an agent's id.")
		return
	}
	rows, msgs, more, err := s.db.RoomsWithMessages(context.Background(), c.userID, c.username, before, int(min(limit, maxPage)), filter)
	if err != nil {
		s.internal(c, "fetch_rooms", err)
		return
	}
	ids := make([]int64, len(rows))
	size := 64
	for i, r := range rows {
		ids[i] = r.ID
		size += len(msgs[r.ID]) + 200
	}
	online := s.hub.VisitorsOnline(ids)
	b := make([]byte, 0, size)
	b = append(b, `{"command":"rooms","rooms":[`...)
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRoomJSON(b, r, msgs[r.ID], online[i])
	}
	b = append(b, "],\"has_more\":"...)
	b = strconv.AppendBool(b, more)
	b = append(b, '}')
	c.push(b)
}

// cmdNewRoom answers a visitor's new_room (or room) on the room socket.
func (s *Server) cmdNewRoom(c *client, f *inFrame) {
	var consumer, email string
	if len(f.Consumer) == 0 || json.Unmarshal(f.Consumer, &consumer) != nil {
		c.fail(codeBadField, "\"consumer\" must be a string.")
		return
	}
	if problem := consumerProblem(consumer, c.username); problem != "" {
		c.fail(codeBadField, "\"consumer\" "+problem)
		return
	}
	if len(f.Email) > 0 && string(f.Email) != "null" {
		if json.Unmarshal(f.Email, &email) != nil {
			c.fail(codeBadField, "\"email\" must be a string.")
			return
		}
		email = strings.TrimSpace(email)
		if email != "" {
			if !validEmail(email) {
				c.fail(codeBadField, "\"email\" is not a valid email address.")
				return
			}
		}
	}
	if !c.admin && s.cfg.RoomsPerAddress > 0 {
		// Only a room that does not exist yet counts against the address.
		_, err := s.db.RoomByConsumer(context.Background(), c.userID, consumer)
		switch {
		case errors.Is(err, errNotFound):
			if s.takeNewRoom(c.addr) > 0 {
				c.fail(codeRateLimited, tooManyRooms)
				return
			}
		case err != nil:
			s.internal(c, "new_room", err)
			return
		}
	}
	op := &commitOp{kind: opRoom, userID: c.userID, username: c.username, consumer: consumer, email: email}
	if err := s.committer.submit(op); err != nil {
		s.internal(c, "new_room", err)
		return
	}
	if !op.created {
		c.push(encodeFrame(struct {
			Command string `json:"command"`
		}{"room_exists"}))
		return
	}
	if !c.admin { // an agent's room socket had it from publishInbox
		c.push(op.frame)
	}
}

// cmdFetchMessages answers fetch_messages with a page of the room.
func (s *Server) cmdFetchMessages(c *client, f *inFrame) {
	var before int64
	limit := maxFetch
	if !optionalInt(f.Before, &before) || before < 0 {
		c.fail(codeBadField, "\"before\" must be a message id.")
		return
	}
	var l int64 = int64(limit)
	if !optionalInt(f.Limit, &l) || l < 1 {
		c.fail(codeBadField, "\"limit\" must be a positive number.")
		return
	}
	limit = int(min(l, maxFetch))
	if !s.allowChatter(c) {
		c.fail(codeRateLimited, "Too many requests; wait a moment.")
		return
	}
	msgs, more, err := s.db.MessagesPage(context.Background(), c.roomID, roomName(c.username, c.consumer), before, limit, c.admin)
	if err != nil {
		s.internal(c, "fetch_messages", err)
		return
	}
	c.push(encodeFrame(messagesFrame{Command: "messages", Messages: msgs, HasMore: more}))
}

// optionalInt decodes raw into *dst unless it is absent or null; it
// reports false for a value that is not an integer.
func optionalInt(raw json.RawMessage, dst *int64) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	return json.Unmarshal(raw, dst) == nil
}

// cmdNewMessage stores a message and, once committed, sends it to the
// room. It returns false when the socket is to be closed (rate limit).
func (s *Server) cmdNewMessage(c *client, f *inFrame) bool {
	if refused, open := s.limited(c); refused {
		return open
	}
	var m struct {
		Content  *string         `json:"content"`
		ClientID json.RawMessage `json:"client_id"`
		ID       json.RawMessage `json:"id"`
		Private  json.RawMessage `json:"private"`
	}
	if len(f.Message) == 0 || json.Unmarshal(f.Message, &m) != nil {
		c.fail(codeBadField, "\"message\" must be an object with \"content\".")
		return true
	}
	var id int64
	if !optionalInt(m.ID, &id) {
		c.fail(codeBadField, "\"id\" must be a message id.")
		return true
	}
	if id != 0 {
		// The original client re-sends an uploaded message by id: it is
		// stored and broadcast already, so this creates nothing.
		if _, err := s.db.MessageInRoom(context.Background(), c.roomID, id, ""); err != nil {
			if errors.Is(err, errNotFound) {
				c.fail(codeNotFound, "There is no such message in this conversation.")
			} else {
				s.internal(c, "new_message", err)
			}
		}
		return true
	}
	var clientID string
	if len(m.ClientID) > 0 && string(m.ClientID) != "null" {
		if json.Unmarshal(m.ClientID, &clientID) != nil || len(clientID) > maxClientID {
			c.fail(codeBadField, "\"client_id\" must be a string of at most 100 bytes.")
			return true
		}
	}
	if m.Content == nil {
		c.fail(codeBadField, "\"content\" is required.")
		return true
	}
	content := strings.TrimSpace(*m.Content)
	if n := utf8.RuneCountInString(content); n < 1 || n > s.cfg.MaxContent {
		c.fail(codeBadField, "\"content\" must be 1 to "+strconv.Itoa(s.cfg.MaxContent)+" characters.")
		return true
	}
	op := &commitOp{kind: opMessage, userID: c.userID, username: c.username, consumer: c.consumer, roomID: c.roomID,
		author: c.author(), content: content, clientID: clientID, fromVisitor: !c.admin, reply: c.push,
		agentID: c.agentID, agent: c.agent}
	if c.admin && len(m.Private) > 0 && string(m.Private) != "null" {
		// A visitor's "private" is an unknown field, ignored.
		if json.Unmarshal(m.Private, &op.private) != nil {
			c.fail(codeBadField, "\"private\" must be true or false.")
			return true
		}
	}
	if !c.admin {
		op.awaySince, op.awayMessage = s.awayReply(c.userID)
	}
	if err := s.committer.submit(op); err != nil {
		if errors.Is(err, errNotFound) {
			c.fail(codeNotFound, "This conversation was deleted.")
		} else {
			s.internal(c, "new_message", err)
		}
	}
	return true
}

// cmdTyping relays typing to the other side of the room.
func (s *Server) cmdTyping(c *client, f *inFrame) {
	var typing bool
	if len(f.Typing) == 0 || json.Unmarshal(f.Typing, &typing) != nil {
		c.fail(codeBadField, "\"typing\" must be true or false.")
		return
	}
	if !s.allowChatter(c) {
		// Typing is a hint: past the limit it is dropped, not refused.
		return
	}
	frame := encodeFrame(typingFrame{Command: "typing", Consumer: c.consumer, By: c.author(), Typing: typing})
	s.hub.publish(c.userID, c.roomID, otherSide(c), frame, &c.subscriber)
}

// cmdRead records a read receipt and relays it to the other side.
func (s *Server) cmdRead(c *client, f *inFrame) {
	var upTo int64
	if len(f.UpTo) == 0 || json.Unmarshal(f.UpTo, &upTo) != nil || upTo < 1 {
		c.fail(codeBadField, "\"up_to\" must be a message id.")
		return
	}
	if upTo <= c.lastRead {
		return // nothing new
	}
	// The stored mark stops at the room's last message, so it (not upTo)
	// is what this socket has read and what the other side hears.
	mark, moved, err := s.db.MarkRead(context.Background(), c.roomID, c.admin, upTo)
	if err != nil {
		s.internal(c, "read", err)
		return
	}
	if !moved {
		return
	}
	c.lastRead = mark
	frame := encodeFrame(readFrame{Command: "read", Consumer: c.consumer, By: c.author(), UpTo: mark})
	if c.admin {
		// Reading is shared: the business's other sockets of the room and
		// every inbox (this agent's too) drop the room's badge. The
		// visitor hears of it without the ids of private notes.
		s.hub.publish(c.userID, c.roomID, toAdmins, frame, &c.subscriber)
		s.publishVisitorRead(c, mark, frame)
		return
	}
	s.hub.publish(c.userID, c.roomID, otherSide(c), frame, &c.subscriber)
}

// otherSide is the audience of a relay from c.
func otherSide(c *client) audience {
	if c.admin {
		return toVisitors
	}
	return toAdmins
}

// internal logs a failure and tells the socket, which stays open.
func (s *Server) internal(c *client, what string, err error) {
	if errors.Is(err, errCommitterClosed) {
		c.fail(codeInternal, "The server is shutting down.")
		return
	}
	s.log.Error("socket command failed", "command", what, "err", err)
	c.fail(codeInternal, "Something went wrong on the server; try again.")
}

// publishOp runs in the writer goroutine after each commit, in commit
// order: it encodes each frame once and hands it to the hub.
func (s *Server) publishOp(op *commitOp) {
	switch op.kind {
	case opMessage:
		frame := encodeFrame(messageFrame{Command: "new_message", Message: &op.msg})
		op.frame = frame
		if op.dup {
			// A repeated client_id: the stored message, to the sender
			// only, unless it is a note and the sender a visitor.
			if op.reply != nil && (!op.msg.Private || !op.fromVisitor) {
				op.reply(frame)
			}
			return
		}
		if op.msg.Private {
			s.hub.publish(op.userID, op.roomID, toAdmins, frame, nil)
			return
		}
		s.hub.publish(op.userID, op.roomID, toEveryone, frame, nil)
		if op.away != nil {
			s.hub.publish(op.userID, op.roomID, toEveryone, encodeFrame(messageFrame{Command: "new_message", Message: op.away}), nil)
		}
		if op.reopened {
			s.publishRoomUpdated(context.Background(), op.userID, op.username, op.roomID)
		}
		if op.fromVisitor {
			s.queuePush(op) // push_notify.go
		}
	case opRoom:
		switch {
		case op.created:
			online := s.hub.VisitorsOnline([]int64{op.room.ID})[0]
			b := append(make([]byte, 0, 256), `{"command":"new_room","room":`...)
			op.frame = append(appendRoomJSON(b, op.room, nil, online), '}')
			s.hub.publishInbox(op.userID, op.frame)
		case op.email != "":
			// A visitor left an email for an existing room: the inbox
			// shows it at once (SPEC is silent; see docs/PROTOCOL.md).
			s.publishRoomUpdated(context.Background(), op.userID, op.username, op.room.ID)
		}
	}
}
