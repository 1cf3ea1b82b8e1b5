package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// client is one open socket with its protocol state: the subscriber the
// hub knows, plus what the commands need. The handler goroutine reads and
// dispatches; the subscriber's drain goroutine writes.
type client struct {
	subscriber
	username string
	// agent is the display name of an agent socket's agent.
	agent string
	// consumer is the chat socket's visitor.
	consumer string
	// addr is the client address the socket is counted against.
	addr string

	// Read-loop state, touched by the handler goroutine only.
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

// acceptOptions allow the server's own origin (always) and the
// operator's extra origins; no Origin header (a non-browser client) is
// accepted by the library as well.
func (s *Server) acceptOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins}
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

// adminSession is the session an admin socket was opened with: its token
// and when it expires.
type adminSession struct {
	token   string
	expires time.Time
}

// socketAccount resolves the business named in a socket URL and whether
// the socket is an agent's: the request carries a session of an agent of
// that business and the URL has no ?as=visitor (the visitor window always
// sends it, so an owner trying their own chat window is a visitor there).
// For an agent's socket, agent is the agent and session its token and
// expiry.
func (s *Server) socketAccount(w http.ResponseWriter, r *http.Request) (u, agent *User, session adminSession, ok bool) {
	username := strings.ToLower(r.PathValue("username"))
	u, err := s.db.BusinessByHandle(r.Context(), username)
	if errors.Is(err, errNotFound) {
		s.writeError(w, r, errorf(http.StatusNotFound, "There is no chatbot with that username."))
		return nil, nil, session, false
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, nil, session, false
	}
	if r.URL.Query().Get("as") == "visitor" {
		return u, nil, session, true
	}
	me, err := s.currentUser(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, nil, session, false
	}
	if me != nil && me.BusinessID == u.ID {
		session.token = s.sessions.Token(r.Context())
		session.expires = s.sessions.Deadline(r.Context())
		return u, me, session, true
	}
	return u, nil, session, true
}

// socketRetry is the Retry-After of a refusal for too many open sockets:
// sockets stay open for as long as their pages do, so there is no exact
// time to give.
const socketRetry = 30 * time.Second

// socketSlot takes one of the client address's open-socket slots
// (SocketsPerAddress), or answers 429 before the upgrade. The caller
// releases the slot when the socket ends.
func (s *Server) socketSlot(w http.ResponseWriter, r *http.Request, addr string) (release func(), ok bool) {
	release, ok = s.limits.acquire("sockets:"+addr, s.cfg.SocketsPerAddress)
	if !ok {
		s.tooMany(w, r, socketRetry, "Too many open connections from your address; close some and try again.")
	}
	return release, ok
}

// takeNewRoom counts a room about to be created against the client
// address (RoomsPerAddress per RoomsWindow); it returns 0, or how long
// until another may be created.
func (s *Server) takeNewRoom(addr string) time.Duration {
	return s.limits.take("rooms:"+addr, s.cfg.RoomsPerAddress, s.cfg.RoomsWindow)
}

// tooManyRooms is the detail of a refused room creation.
const tooManyRooms = "Too many new conversations from your address; try again later."

// handleRoomSocket handles "GET /ws/room/{username}": the admin's inbox
// socket, or a visitor's room handshake.
func (s *Server) handleRoomSocket(w http.ResponseWriter, r *http.Request) {
	u, agent, session, ok := s.socketAccount(w, r)
	if !ok {
		return
	}
	addr := s.limitAddr(r)
	release, ok := s.socketSlot(w, r, addr)
	if !ok {
		return
	}
	defer release()
	conn, err := s.accept(w, r)
	if err != nil {
		return // Accept has answered (403 for a foreign origin).
	}
	c := s.newClient(conn, roomSocket, u, agent, session.token)
	c.expires = session.expires
	c.addr = addr
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
	u, agent, session, ok := s.socketAccount(w, r)
	if !ok {
		return
	}
	admin := agent != nil
	addr := s.limitAddr(r)
	release, ok := s.socketSlot(w, r, addr)
	if !ok {
		return
	}
	defer release()
	// An upgrade that would create a room is refused before the upgrade
	// once the address has created its share (an existing room is
	// always opened).
	if s.cfg.RoomsPerAddress > 0 {
		_, err := s.db.RoomByConsumer(r.Context(), u.ID, consumer)
		switch {
		case errors.Is(err, errNotFound):
			if wait := s.takeNewRoom(addr); wait > 0 {
				s.tooMany(w, r, wait, tooManyRooms)
				return
			}
		case err != nil:
			s.writeError(w, r, err)
			return
		}
	}
	var userAgent, country string
	if !admin {
		// The country is looked up now; the address is not kept.
		userAgent, country = r.Header.Get("User-Agent"), s.geoip.Country(s.clientAddr(r))
	}
	conn, err := s.accept(w, r)
	if err != nil {
		return
	}
	// No r.Context() after Accept: the request is over for net/http.
	op := &commitOp{kind: opRoom, userID: u.ID, username: u.Username, consumer: consumer}
	if err := s.committer.submit(op); err != nil {
		if !errors.Is(err, errCommitterClosed) {
			s.log.Error("chat socket: room", "err", err)
		}
		conn.Close(websocket.StatusInternalError, "the conversation could not be opened")
		return
	}
	c := s.newClient(conn, chatSocket, u, agent, session.token)
	c.expires = session.expires
	c.addr = addr
	c.roomID, c.consumer = op.room.ID, consumer
	if !admin {
		s.seeVisitor(c, userAgent, country)
	}
	var online, offline []byte
	if !admin {
		online = encodeFrame(presenceFrame{Command: "presence", Consumer: consumer, Online: true})
		offline = encodeFrame(presenceFrame{Command: "presence", Consumer: consumer, Online: false})
	}
	s.serveSocket(c, online, offline)
}

// newClient makes a socket's state for business u: an agent's socket
// when agent is not nil (opened with session token session), else a
// visitor's. Agent room sockets, which carry every room's traffic, get
// the larger queue.
func (s *Server) newClient(conn *websocket.Conn, kind socketKind, u, agent *User, session string) *client {
	admin := agent != nil
	q := s.cfg.SendQueue
	if kind == roomSocket && admin {
		q = s.cfg.AdminSendQueue
	}
	c := &client{subscriber: subscriber{conn: conn, kind: kind, admin: admin, userID: u.ID, session: session,
		send: make(chan []byte, max(q, 1)), kicked: make(chan struct{}), closed: make(chan struct{})},
		username: u.Username}
	if admin {
		c.agentID, c.agent = agent.ID, agent.DisplayName()
	}
	return c
}

// serveSocket runs a socket until it ends: register (announcing presence
// with online, if given), let the writer run, read until the connection
// ends, unregister (announcing offline), and wait until the connection is
// closed.
func (s *Server) serveSocket(c *client, online, offline []byte) {
	c.conn.SetReadLimit(s.cfg.MaxFrame)
	if !s.hub.add(&c.subscriber, online) {
		c.shut(websocket.StatusGoingAway, "server shutting down")
		return
	}
	if c.admin {
		// The owner may have removed the agent between the upgrade's
		// session check and add: Hub.EndAgent ran before add, so look
		// again now that the socket is where EndAgent would find it.
		if _, err := s.db.UserByID(context.Background(), c.agentID); errors.Is(err, errNotFound) {
			c.kick(websocket.StatusPolicyViolation, "agent removed")
		}
	}
	defer s.metrics.socketOpen(c.kind, c.admin)()
	c.live.Store(true)
	c.wake() // frames queued (or a kick) since add
	c.schedulePing(s.cfg.PingInterval)
	if !c.expires.IsZero() {
		// An admin socket must not outlive its session: logout and a
		// password change end it through Hub.EndSession, and expiry here.
		t := time.AfterFunc(time.Until(c.expires), func() {
			c.kick(websocket.StatusPolicyViolation, "session expired")
		})
		defer t.Stop()
	}
	s.readLoop(c)
	c.stopPing()
	s.hub.remove(&c.subscriber, offline)
	c.kick(websocket.StatusNormalClosure, "")
	<-c.closed
}

// readLoop reads frames until the connection ends or the socket is to be
// closed.
func (s *Server) readLoop(c *client) {
	ctx := context.Background()
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
			default:
				s.log.Debug("socket read", "err", err)
			}
			return
		}
		if typ != websocket.MessageText {
			// The protocol is JSON text frames; a binary frame is not
			// looked into.
			c.fail(codeBadFrame, "Frames must be text (JSON), not binary.")
			continue
		}
		if !s.dispatch(c, data) {
			return
		}
	}
}
