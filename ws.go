package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"nhooyr.io/websocket"
)

// Socket timings.
const (
	// writeTimeout bounds one write to a socket; a peer that takes longer
	// is closed.
	writeTimeout = 5 * time.Second
	// pongWait is how long a ping may wait for its pong. Must be less than
	// the ping interval.
	pongWait = 10 * time.Second
	// maxClientID is the longest client_id accepted, in bytes.
	maxClientID = 100
	// maxFetch is the most messages one fetch_messages answers.
	maxFetch = 200
)

var consumerRE = regexp.MustCompile(`^[A-Za-z0-9_.~-]{1,64}$`)

// consumerProblem says what is wrong with a consumer id for a room of the
// account username, or "" when nothing is. Every room is created through
// a socket, and both sockets check here.
func consumerProblem(consumer, username string) string {
	switch {
	case !consumerRE.MatchString(consumer):
		return "must be 1 to 64 of A-Z a-z 0-9 _ . ~ -."
	case consumer == username:
		// The admin writes as the username: a visitor with the same id
		// would write messages indistinguishable from the business's.
		return "may not be the account's username."
	}
	return ""
}

// socketKind tells the two endpoints apart.
type socketKind uint8

const (
	roomSocket socketKind = iota // /ws/room/{username}
	chatSocket                   // /ws/chat/{username}/{consumer}
)

// client is one open socket. The handler goroutine reads and dispatches;
// a writer goroutine drains send, started only while there is something
// to send (an idle socket then costs two goroutines, not three: most of
// a socket's memory is goroutine stacks). Only kick ends a client from
// outside.
type client struct {
	conn     *websocket.Conn
	kind     socketKind
	admin    bool
	userID   int64
	username string
	// session is the session token an admin socket was opened with;
	// when that session ends, the socket is closed (Hub.EndSession).
	session string
	// roomID and consumer are the chat socket's room.
	roomID   int64
	consumer string

	send       chan []byte
	kicked     chan struct{}
	kickOnce   sync.Once
	kickCode   websocket.StatusCode
	kickReason string
	// live is set once serveSocket runs the socket; before that, frames
	// and kicks wait in place.
	live atomic.Bool
	// writing is true while a drain goroutine runs; at most one does, so
	// frames keep their order.
	writing atomic.Bool
	// closed is closed by the drain goroutine that closed the connection.
	closed chan struct{}

	pingMu   sync.Mutex
	pingT    *time.Timer
	pingDone bool

	// Read-loop state, touched by the handler goroutine only.
	op writeOp
	// rate holds the times of the socket's last accepted messages;
	// chatter those of its typing frames and fetches (see allowChatter).
	rate     slidingWindow
	chatter  slidingWindow
	strikes  int
	lastRead int64
}

// author is the name the server writes on this socket's messages.
func (c *client) author() string {
	if c.admin {
		return c.username
	}
	return c.consumer
}

// push queues a frame without ever blocking; a full queue kicks the socket
// with 1008 so that a slow reader cannot slow its room down.
func (c *client) push(frame []byte) {
	select {
	case c.send <- frame:
		c.wake()
	default:
		c.kick(websocket.StatusPolicyViolation, "too slow: send queue full")
	}
}

// kick asks the socket's writer to close it with code; the first kick wins.
func (c *client) kick(code websocket.StatusCode, reason string) {
	c.kickOnce.Do(func() {
		c.kickCode, c.kickReason = code, reason
		close(c.kicked)
	})
	c.wake()
}

// isKicked reports whether the socket is to be closed.
func (c *client) isKicked() bool {
	select {
	case <-c.kicked:
		return true
	default:
		return false
	}
}

// wake starts the drain goroutine unless one runs (or the socket is not
// live yet).
func (c *client) wake() {
	if c.live.Load() && c.writing.CompareAndSwap(false, true) {
		go c.drain()
	}
}

// drain is the socket's only writer while it runs: it writes queued
// frames until the queue is empty, then ends. A kick wins over queued
// frames: the drain that sees it closes the connection and leaves writing
// set, so no other drain ever starts.
func (c *client) drain() {
	for {
		if c.isKicked() {
			c.conn.Close(c.kickCode, c.kickReason)
			close(c.closed)
			return
		}
		select {
		case f := <-c.send:
			if err := c.writeFrames(f); err != nil {
				// The peer is gone or stuck; the read loop fails next and
				// serveSocket kicks, which this loop then handles.
				c.conn.CloseNow()
				c.kickOnce.Do(func() {
					c.kickCode, c.kickReason = websocket.StatusAbnormalClosure, ""
					close(c.kicked)
				})
			}
			continue
		default:
		}
		c.writing.Store(false)
		// A frame or kick that came after the queue looked empty found
		// writing set and started nothing: look again.
		if (len(c.send) == 0 && !c.isKicked()) || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// schedulePing pings the peer every interval from a timer, not from a
// goroutine of the socket's own; a ping that fails (no pong within
// pongWait) drops the connection, which ends the read loop.
func (c *client) schedulePing(interval time.Duration) {
	if interval <= 0 {
		return
	}
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if c.pingDone {
		return
	}
	c.pingT = time.AfterFunc(interval, func() {
		ctx, cancel := context.WithTimeout(context.Background(), min(pongWait, interval))
		err := c.conn.Ping(ctx)
		cancel()
		if err != nil {
			c.conn.CloseNow()
			return
		}
		c.schedulePing(interval)
	})
}

// stopPing stops the ping timer for good.
func (c *client) stopPing() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pingDone = true
	if c.pingT != nil {
		c.pingT.Stop()
	}
}

// acceptOptions allow the server's own origin (always) and the
// operator's extra origins; no Origin header (a non-browser client) is
// accepted by the library as well.
func (s *Server) acceptOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins}
}

// apiErrorWriter lets a library handler answer errors in the API's own
// format: websocket.Accept and http.ServeContent refuse with http.Error
// (plain text, in their own words) or a bare status. apiErrorWriter turns
// any status of 400 and above into our JSON {"detail"} (detail by status)
// and drops the library's body. It keeps http.Hijacker, which Accept
// needs.
type apiErrorWriter struct {
	http.ResponseWriter
	s       *Server
	r       *http.Request
	details map[int]string
	refused bool
}

func (w *apiErrorWriter) WriteHeader(status int) {
	if status < 400 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.refused = true
	detail := w.details[status]
	if detail == "" {
		detail = http.StatusText(status) + "."
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Disposition")
	w.s.writeError(w.ResponseWriter, w.r, errorf(status, "%s", detail))
}

func (w *apiErrorWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *apiErrorWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// acceptErrors are the details of refused upgrades.
var acceptErrors = map[int]string{
	http.StatusForbidden:       "Sockets may not be opened from this origin.",
	http.StatusUpgradeRequired: "This address takes a websocket upgrade request.",
	http.StatusBadRequest:      "This address takes a websocket upgrade request.",
}

// accept upgrades the request, answering a refusal as an API error.
func (s *Server) accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	return websocket.Accept(&apiErrorWriter{ResponseWriter: w, s: s, r: r, details: acceptErrors}, r, s.acceptOptions())
}

// socketAccount resolves the account named in a socket URL and whether
// the request carries that account's session (an admin socket): then
// session is its token, else "".
func (s *Server) socketAccount(w http.ResponseWriter, r *http.Request) (u *User, session string, ok bool) {
	username := strings.ToLower(r.PathValue("username"))
	u, err := s.db.UserByName(r.Context(), username)
	if errors.Is(err, errNotFound) {
		s.writeError(w, r, errorf(http.StatusNotFound, "There is no chatbot with that username."))
		return nil, "", false
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, "", false
	}
	me, err := s.currentUser(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, "", false
	}
	if me != nil && me.ID == u.ID {
		session = s.sessions.Token(r.Context())
	}
	return u, session, true
}

// handleRoomSocket handles "GET /ws/room/{username}": the admin's inbox
// socket, or a visitor's room handshake.
func (s *Server) handleRoomSocket(w http.ResponseWriter, r *http.Request) {
	u, session, ok := s.socketAccount(w, r)
	if !ok {
		return
	}
	conn, err := s.accept(w, r)
	if err != nil {
		return // Accept has answered (403 for a foreign origin).
	}
	c := s.newClient(conn, roomSocket, session != "", u)
	c.session = session
	s.serveSocket(c, nil, nil)
}

// handleChatSocket handles "GET /ws/chat/{username}/{consumer}": one
// conversation, for its visitor or its admin. The room is created if
// missing.
func (s *Server) handleChatSocket(w http.ResponseWriter, r *http.Request) {
	consumer := r.PathValue("consumer")
	if problem := consumerProblem(consumer, strings.ToLower(r.PathValue("username"))); problem != "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "The consumer id %s", problem))
		return
	}
	u, session, ok := s.socketAccount(w, r)
	if !ok {
		return
	}
	admin := session != ""
	conn, err := s.accept(w, r)
	if err != nil {
		return
	}
	// No r.Context() after Accept: the request is over for net/http.
	op := &writeOp{kind: opRoom, userID: u.ID, username: u.Username, consumer: consumer}
	if err := s.writer.submit(op); err != nil {
		if !errors.Is(err, errWriterClosed) {
			s.log.Error("chat socket: room", "err", err)
		}
		conn.Close(websocket.StatusInternalError, "the conversation could not be opened")
		return
	}
	c := s.newClient(conn, chatSocket, admin, u)
	c.session = session
	c.roomID, c.consumer = op.room.ID, consumer
	var online, offline []byte
	if !admin {
		online = encodeFrame(presenceFrame{Command: "presence", Consumer: consumer, Online: true})
		offline = encodeFrame(presenceFrame{Command: "presence", Consumer: consumer, Online: false})
	}
	s.serveSocket(c, online, offline)
}

// newClient makes a socket's state; admin room sockets, which carry every
// room's traffic, get the larger queue.
func (s *Server) newClient(conn *websocket.Conn, kind socketKind, admin bool, u *User) *client {
	q := s.cfg.SendQueue
	if kind == roomSocket && admin {
		q = s.cfg.AdminSendQueue
	}
	c := &client{conn: conn, kind: kind, admin: admin, userID: u.ID, username: u.Username,
		send: make(chan []byte, max(q, 1)), kicked: make(chan struct{}), closed: make(chan struct{})}
	c.op.done = make(chan struct{}, 1)
	return c
}

// serveSocket runs a socket until it ends: register (announcing presence
// with online, if given), let the writer run, read until the connection
// ends, unregister (announcing offline), and wait until the connection is
// closed.
func (s *Server) serveSocket(c *client, online, offline []byte) {
	c.conn.SetReadLimit(s.cfg.MaxFrame)
	if !s.hub.add(c, online) {
		c.conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.metrics.socketOpen(c.kind, c.admin)()
	c.live.Store(true)
	c.wake() // frames queued (or a kick) since add
	c.schedulePing(s.cfg.PingInterval)
	s.readLoop(c)
	c.stopPing()
	s.hub.remove(c, offline)
	c.kick(websocket.StatusNormalClosure, "")
	<-c.closed
}

// writeFrames writes f and whatever else is queued already under one
// write deadline.
func (c *client) writeFrames(f []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	for {
		if err := c.conn.Write(ctx, websocket.MessageText, f); err != nil {
			return err
		}
		select {
		case <-c.kicked:
			return nil
		case f = <-c.send:
		default:
			return nil
		}
	}
}

// readLoop reads frames until the connection ends or the socket is to be
// closed.
func (s *Server) readLoop(c *client) {
	ctx := context.Background()
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
			default:
				s.log.Debug("socket read", "err", err)
			}
			return
		}
		if !s.dispatch(c, data) {
			return
		}
	}
}

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
	roomsFrame struct {
		Command string `json:"command"`
		Rooms   []Room `json:"rooms"`
	}
	roomFrame struct {
		Command string `json:"command"`
		Room    Room   `json:"room"`
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
	roomUpdatedFrame struct {
		Command       string `json:"command"`
		Consumer      string `json:"consumer"`
		ConsumerEmail string `json:"consumer_email"`
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
	errBadJSON        = "bad_json"
	errUnknownCommand = "unknown_command"
	errBadField       = "bad_field"
	errForbiddenCode  = "forbidden"
	errRateLimited    = "rate_limited"
	errNotFoundCode   = "not_found"
	errInternal       = "internal"
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
		c.fail(errBadJSON, "The frame must be a JSON object.")
		return true
	}
	var cmd string
	if len(f.Command) == 0 || json.Unmarshal(f.Command, &cmd) != nil || cmd == "" {
		c.fail(errUnknownCommand, "The frame needs a \"command\" string.")
		return true
	}
	switch c.kind {
	case roomSocket:
		switch {
		case !c.admin && (cmd == "new_room" || cmd == "room"):
			// It creates a room and tells the inbox: rate-limited like
			// a message.
			if refused, open := s.limited(c); refused {
				return open
			}
			s.cmdNewRoom(c, &f)
		case !c.admin:
			c.fail(errForbiddenCode, "A visitor can only announce a room on this socket.")
		case cmd == "fetch_rooms":
			s.cmdFetchRooms(c)
		case knownCommand(cmd):
			c.fail(errForbiddenCode, "Only fetch_rooms is available on the room socket; open /ws/chat/ for one conversation.")
		default:
			c.fail(errUnknownCommand, "Unknown command.")
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
		case "fetch_rooms", "new_room", "room":
			c.fail(errForbiddenCode, "That command belongs to the room socket.")
		default:
			c.fail(errUnknownCommand, "Unknown command.")
		}
	}
	return true
}

func knownCommand(cmd string) bool {
	switch cmd {
	case "fetch_rooms", "new_room", "room", "fetch_messages", "new_message", "typing", "read":
		return true
	}
	return false
}

// cmdFetchRooms answers fetch_rooms: every room, newest activity first,
// each with its last messages. The frame can be megabytes, so it is
// written by hand rather than through encoding/json.
func (s *Server) cmdFetchRooms(c *client) {
	rows, msgs, err := s.chat.RoomsWithMessages(context.Background(), c.userID, c.username)
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
	b = append(b, "]}"...)
	c.push(b)
}

// cmdNewRoom answers a visitor's new_room (or room) on the room socket.
func (s *Server) cmdNewRoom(c *client, f *inFrame) {
	var consumer, email string
	if len(f.Consumer) == 0 || json.Unmarshal(f.Consumer, &consumer) != nil {
		c.fail(errBadField, "\"consumer\" must be a string.")
		return
	}
	if problem := consumerProblem(consumer, c.username); problem != "" {
		c.fail(errBadField, "\"consumer\" "+problem)
		return
	}
	if len(f.Email) > 0 && string(f.Email) != "null" {
		if json.Unmarshal(f.Email, &email) != nil {
			c.fail(errBadField, "\"email\" must be a string.")
			return
		}
		email = strings.TrimSpace(email)
		if email != "" {
			if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
				c.fail(errBadField, "\"email\" is not a valid email address.")
				return
			}
		}
	}
	op := &c.op
	*op = writeOp{kind: opRoom, userID: c.userID, username: c.username, consumer: consumer, email: email, done: op.done}
	if err := s.writer.submit(op); err != nil {
		s.internal(c, "new_room", err)
		return
	}
	if !op.created {
		c.push(encodeFrame(struct {
			Command string `json:"command"`
		}{"room_exists"}))
		return
	}
	c.push(op.frame)
}

// cmdFetchMessages answers fetch_messages with a page of the room.
func (s *Server) cmdFetchMessages(c *client, f *inFrame) {
	var before int64
	limit := maxFetch
	if !optionalInt(f.Before, &before) || before < 0 {
		c.fail(errBadField, "\"before\" must be a message id.")
		return
	}
	var l int64 = int64(limit)
	if !optionalInt(f.Limit, &l) || l < 1 {
		c.fail(errBadField, "\"limit\" must be a positive number.")
		return
	}
	limit = int(min(l, maxFetch))
	if !s.allowChatter(c) {
		c.fail(errRateLimited, "Too many requests; wait a moment.")
		return
	}
	msgs, more, err := s.chat.MessagesPage(context.Background(), c.roomID, roomName(c.username, c.consumer), before, limit)
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

// slidingWindow is a rate limiter: the times of the last accepted
// events, in a ring allocated on first use. An event is accepted when
// fewer than limit were accepted in the last window. (A fixed window would
// let 2×limit through around its edge.)
type slidingWindow struct {
	times []time.Time
	next  int // the oldest entry
}

func (w *slidingWindow) take(limit int, window time.Duration, now time.Time) bool {
	if w.times == nil {
		w.times = make([]time.Time, limit)
	}
	if oldest := w.times[w.next]; !oldest.IsZero() && now.Sub(oldest) < window {
		return false
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % len(w.times)
	return true
}

// allow applies the per-socket message rate limit: at most RateMessages
// in any RateWindow. It returns false when the message is refused; close
// reports that the socket has been refused RateStrikes times in a row and
// is to be closed.
func (s *Server) allow(c *client) (ok, close bool) {
	if s.cfg.RateMessages <= 0 {
		return true, false
	}
	if !c.rate.take(s.cfg.RateMessages, s.cfg.RateWindow, time.Now()) {
		c.strikes++
		return false, s.cfg.RateStrikes > 0 && c.strikes >= s.cfg.RateStrikes
	}
	c.strikes = 0
	return true, false
}

// allowChatter limits what is neither stored nor counted as a message but
// still costs the other side or the database: typing frames (relayed to
// every admin socket of the account) and fetch_messages. Without it one
// anonymous visitor could fill the admin's outgoing queue with typing
// frames until the inbox socket is closed for being slow. At most
// RateChatter per RateWindow on a visitor's socket; <= 0 lifts it. The
// admin, signed in, is not limited.
func (s *Server) allowChatter(c *client) bool {
	return c.admin || s.cfg.RateChatter <= 0 || c.chatter.take(s.cfg.RateChatter, s.cfg.RateWindow, time.Now())
}

// limited applies the rate limit to a command that stores something
// (new_message, and new_room on a visitor's room socket): a refused one is
// answered rate_limited, or the socket is kicked (1008) after RateStrikes
// refusals in a row. It reports whether the command is refused and
// whether the socket stays open.
func (s *Server) limited(c *client) (refused, open bool) {
	ok, closeIt := s.allow(c)
	if closeIt {
		c.kick(websocket.StatusPolicyViolation, "rate limit exceeded")
		return true, false
	}
	if !ok {
		c.fail(errRateLimited, "Too many messages; wait a moment.")
		return true, true
	}
	return false, true
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
	}
	if len(f.Message) == 0 || json.Unmarshal(f.Message, &m) != nil {
		c.fail(errBadField, "\"message\" must be an object with \"content\".")
		return true
	}
	var id int64
	if !optionalInt(m.ID, &id) {
		c.fail(errBadField, "\"id\" must be a message id.")
		return true
	}
	if id != 0 {
		// The original client re-sends an uploaded message by id: it is
		// stored and broadcast already, so this creates nothing.
		if _, err := s.chat.MessageInRoom(context.Background(), c.roomID, id, ""); err != nil {
			if errors.Is(err, errNotFound) {
				c.fail(errNotFoundCode, "There is no such message in this conversation.")
			} else {
				s.internal(c, "new_message", err)
			}
		}
		return true
	}
	var clientID string
	if len(m.ClientID) > 0 && string(m.ClientID) != "null" {
		if json.Unmarshal(m.ClientID, &clientID) != nil || len(clientID) > maxClientID {
			c.fail(errBadField, "\"client_id\" must be a string of at most 100 bytes.")
			return true
		}
	}
	if m.Content == nil {
		c.fail(errBadField, "\"content\" is required.")
		return true
	}
	content := strings.TrimSpace(*m.Content)
	if n := utf8.RuneCountInString(content); n < 1 || n > s.cfg.MaxContent {
		c.fail(errBadField, "\"content\" must be 1 to "+strconv.Itoa(s.cfg.MaxContent)+" characters.")
		return true
	}
	op := &c.op
	*op = writeOp{kind: opMessage, userID: c.userID, username: c.username, consumer: c.consumer, roomID: c.roomID,
		author: c.author(), content: content, clientID: clientID, fromVisitor: !c.admin, from: c, done: op.done}
	if err := s.writer.submit(op); err != nil {
		if errors.Is(err, errNotFound) {
			c.fail(errNotFoundCode, "This conversation was deleted.")
		} else {
			s.internal(c, "new_message", err)
		}
	}
	c.op.from = nil
	return true
}

// cmdTyping relays typing to the other side of the room.
func (s *Server) cmdTyping(c *client, f *inFrame) {
	var typing bool
	if len(f.Typing) == 0 || json.Unmarshal(f.Typing, &typing) != nil {
		c.fail(errBadField, "\"typing\" must be true or false.")
		return
	}
	if !s.allowChatter(c) {
		// Typing is a hint: past the limit it is dropped, not refused.
		return
	}
	frame := encodeFrame(typingFrame{Command: "typing", Consumer: c.consumer, By: c.author(), Typing: typing})
	s.hub.publish(c.userID, c.roomID, otherSide(c), frame, c)
}

// cmdRead records a read receipt and relays it to the other side.
func (s *Server) cmdRead(c *client, f *inFrame) {
	var upTo int64
	if len(f.UpTo) == 0 || json.Unmarshal(f.UpTo, &upTo) != nil || upTo < 1 {
		c.fail(errBadField, "\"up_to\" must be a message id.")
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
	s.hub.publish(c.userID, c.roomID, otherSide(c), frame, c)
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
	if errors.Is(err, errWriterClosed) {
		c.fail(errInternal, "The server is shutting down.")
		return
	}
	s.log.Error("socket command failed", "command", what, "err", err)
	c.fail(errInternal, "Something went wrong on the server; try again.")
}

// publishOp runs in the writer goroutine after each commit, in commit
// order: it encodes each frame once and hands it to the hub.
func (s *Server) publishOp(op *writeOp) {
	switch op.kind {
	case opMessage:
		frame := encodeFrame(messageFrame{Command: "new_message", Message: &op.msg})
		op.frame = frame
		if op.dup {
			// A repeated client_id: the stored message, to the sender only.
			if op.from != nil {
				op.from.push(frame)
			}
			return
		}
		s.hub.publish(op.userID, op.roomID, toEveryone, frame, nil)
	case opRoom:
		switch {
		case op.created:
			online := s.hub.VisitorsOnline([]int64{op.room.ID})[0]
			op.frame = encodeFrame(roomFrame{Command: "new_room", Room: op.room.json(nil, online)})
			s.hub.publishInbox(op.userID, op.frame)
		case op.email != "":
			// A visitor left an email for an existing room: the inbox
			// shows it at once (SPEC is silent; see docs/PROTOCOL.md).
			s.hub.publishInbox(op.userID, encodeFrame(roomUpdatedFrame{Command: "room_updated", Consumer: op.consumer, ConsumerEmail: op.room.Email}))
		}
	}
}
