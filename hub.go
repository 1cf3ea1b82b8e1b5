package main

import (
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Hub knows who is connected: chat sockets per room (visitors' and
// admins' apart) and admin room sockets per account. It does no SQL, no
// JSON and no socket I/O: publishing is a non-blocking send of an
// already-encoded frame onto each socket's queue, and a socket whose
// queue is full is kicked (closed with 1008 by its own writer) rather
// than allowed to slow its room down.
type Hub struct {
	mu sync.Mutex
	// rooms holds the chat sockets of each room (by room id).
	rooms map[int64]*roomSubs
	// inboxes holds the admin room sockets of each account (by user id):
	// they receive every room's traffic.
	inboxes map[int64]map[*subscriber]struct{}
	// admins counts every admin socket (room or chat) per account, for
	// AdminOnline; agents counts them per agent (by user id), for
	// AgentOnline.
	admins map[int64]int
	agents map[int64]int
	// visible counts each agent's inboxes (admin room sockets) that are
	// visible on screen (hub_visible.go).
	visible map[int64]int
	// all is every registered socket, for CloseAll.
	all map[*subscriber]struct{}
	// closed refuses new sockets once CloseAll has run.
	closed bool
	// empty is signalled whenever all becomes empty.
	empty *sync.Cond
}

// roomSubs are the chat sockets of one room.
type roomSubs struct {
	visitors map[*subscriber]struct{}
	admins   map[*subscriber]struct{}
}

// NewHub makes an empty hub.
func NewHub() *Hub {
	h := &Hub{
		rooms:   map[int64]*roomSubs{},
		inboxes: map[int64]map[*subscriber]struct{}{},
		admins:  map[int64]int{},
		agents:  map[int64]int{},
		visible: map[int64]int{},
		all:     map[*subscriber]struct{}{},
	}
	h.empty = sync.NewCond(&h.mu)
	return h
}

// add registers a socket. It returns false when the hub is shutting down
// (the caller closes the socket with 1001). When c is the room's first
// visitor chat socket, online (a presence frame, if not nil) goes to the
// account's admin sockets, under the lock so that presence frames keep the
// order of the changes they announce.
func (h *Hub) add(c *subscriber, online []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.all[c] = struct{}{}
	if c.admin {
		h.admins[c.userID]++
		h.agents[c.agentID]++
	}
	switch {
	case c.kind == roomSocket && c.admin:
		set := h.inboxes[c.userID]
		if set == nil {
			set = map[*subscriber]struct{}{}
			h.inboxes[c.userID] = set
		}
		set[c] = struct{}{}
		h.setVisibleLocked(c, true) // until it says otherwise
	case c.kind == chatSocket:
		rs := h.rooms[c.roomID]
		if rs == nil {
			rs = &roomSubs{visitors: map[*subscriber]struct{}{}, admins: map[*subscriber]struct{}{}}
			h.rooms[c.roomID] = rs
		}
		if c.admin {
			rs.admins[c] = struct{}{}
		} else {
			rs.visitors[c] = struct{}{}
			if len(rs.visitors) == 1 && online != nil {
				h.publishLocked(c.userID, c.roomID, toAdmins, online, nil)
			}
		}
	}
	return true
}

// remove unregisters a socket. When it was the room's last visitor chat
// socket, offline (if not nil) goes to the account's admin sockets.
func (h *Hub) remove(c *subscriber, offline []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[c]; !ok {
		return
	}
	delete(h.all, c)
	if c.admin {
		if h.admins[c.userID]--; h.admins[c.userID] <= 0 {
			delete(h.admins, c.userID)
		}
		if h.agents[c.agentID]--; h.agents[c.agentID] <= 0 {
			delete(h.agents, c.agentID)
		}
	}
	switch {
	case c.kind == roomSocket && c.admin:
		h.setVisibleLocked(c, false)
		set := h.inboxes[c.userID]
		delete(set, c)
		if len(set) == 0 {
			delete(h.inboxes, c.userID)
		}
	case c.kind == chatSocket:
		rs := h.rooms[c.roomID]
		if rs != nil {
			if c.admin {
				delete(rs.admins, c)
			} else {
				delete(rs.visitors, c)
				if len(rs.visitors) == 0 && offline != nil {
					h.publishLocked(c.userID, c.roomID, toAdmins, offline, nil)
				}
			}
			if len(rs.visitors) == 0 && len(rs.admins) == 0 {
				delete(h.rooms, c.roomID)
			}
		}
	}
	if len(h.all) == 0 {
		h.empty.Broadcast()
	}
}

// Audience says which sockets of a room receive a frame.
type audience uint8

const (
	toVisitors audience = 1 << iota // the room's visitor chat sockets
	toAdmins                        // the room's admin chat sockets and the account's inboxes
	toEveryone = toVisitors | toAdmins
)

// publish queues frame on the sockets of room roomID (of account userID)
// that aud names, skipping except (the sender, for relays).
func (h *Hub) publish(userID, roomID int64, aud audience, frame []byte, except *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(userID, roomID, aud, frame, except)
}

func (h *Hub) publishLocked(userID, roomID int64, aud audience, frame []byte, except *subscriber) {
	if rs := h.rooms[roomID]; rs != nil {
		if aud&toVisitors != 0 {
			for c := range rs.visitors {
				if c != except {
					c.push(frame)
				}
			}
		}
		if aud&toAdmins != 0 {
			for c := range rs.admins {
				if c != except {
					c.push(frame)
				}
			}
		}
	}
	if aud&toAdmins != 0 {
		for c := range h.inboxes[userID] {
			if c != except {
				c.push(frame)
			}
		}
	}
}

// publishInbox queues frame on every admin room socket of the account.
func (h *Hub) publishInbox(userID int64, frame []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.inboxes[userID] {
		c.push(frame)
	}
}

// OnlineRooms lists the rooms of the account with a visitor chat socket
// open (GET /chatbot/api/visitors).
func (h *Hub) OnlineRooms(userID int64) []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []int64
	for id, rs := range h.rooms {
		for c := range rs.visitors {
			if c.userID == userID {
				ids = append(ids, id)
			}
			break
		}
	}
	return ids
}

// AdminOnline reports whether any admin socket of the account is open.
func (h *Hub) AdminOnline(userID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.admins[userID] > 0
}

// VisitorsOnline reports, for each room id, whether a visitor chat socket
// of it is open.
func (h *Hub) VisitorsOnline(roomIDs []int64) []bool {
	online := make([]bool, len(roomIDs))
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, id := range roomIDs {
		if rs := h.rooms[id]; rs != nil && len(rs.visitors) > 0 {
			online[i] = true
		}
	}
	return online
}

// AgentOnline reports whether any socket of the agent (by user id) is open.
func (h *Hub) AgentOnline(agentID int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[agentID] > 0
}

// EndSession closes (1008) the agent's sockets (agentID is the agent's
// user id) that were opened with session token, or all of them when token
// is "": an agent socket must not outlive the session that made it the
// agent's.
func (h *Hub) EndSession(agentID int64, token string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.all {
		if c.admin && c.agentID == agentID && (token == "" || c.session == token) {
			c.kick(websocket.StatusPolicyViolation, "session ended")
		}
	}
}

// EndAgent closes (1008) every socket of one agent of a business at once:
// the agent was removed.
func (h *Hub) EndAgent(businessID, agentID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.all {
		if c.admin && c.userID == businessID && c.agentID == agentID {
			c.kick(websocket.StatusPolicyViolation, "agent removed")
		}
	}
}

// Count is the number of open sockets.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.all)
}

// closeAllWait bounds how long CloseAll waits for sockets to finish their
// close handshakes.
const closeAllWait = 10 * time.Second

// CloseAll closes every socket with 1001 (going away), refuses new ones,
// and waits (at most closeAllWait) until every socket has unregistered.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	h.closed = true
	for c := range h.all {
		c.kick(websocket.StatusGoingAway, "server shutting down")
	}
	t := time.AfterFunc(closeAllWait, func() {
		h.mu.Lock()
		h.empty.Broadcast()
		h.mu.Unlock()
	})
	defer t.Stop()
	deadline := time.Now().Add(closeAllWait)
	for len(h.all) > 0 && time.Now().Before(deadline) {
		h.empty.Wait()
	}
	h.mu.Unlock()
}
