package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Socket timings.
const (
	// writeTimeout bounds one write to a socket; a peer that takes longer
	// is closed.
	writeTimeout = 5 * time.Second
	// pongWait is how long a ping may wait for its pong. Must be less than
	// the ping interval.
	pongWait = 10 * time.Second
)

// subscriber is one open socket as the hub knows it: its connection, its
// send queue and the goroutine that drains it, kick, and ping. It carries
// what the hub routes by (kind, admin, account, room, session), all set at
// creation; the socket's protocol state (client, ws.go) embeds it.
//
// A drain goroutine runs only while there is something to send (an idle
// socket then costs two goroutines, not three: most of a socket's memory
// is goroutine stacks). Only kick ends a subscriber from outside.
type subscriber struct {
	conn   *websocket.Conn
	kind   socketKind
	admin  bool
	userID int64
	// roomID is a chat socket's room.
	roomID int64
	// session is the session token an admin socket was opened with;
	// when that session ends, the socket is closed (Hub.EndSession), and
	// at expires, when the session expires (serveSocket).
	session string
	// agentID is the agent of an agent socket (admin): Hub.EndSession
	// and Hub.EndAgent close an agent's sockets by it.
	agentID int64
	expires time.Time
	// visible is whether an inbox (admin room socket) is on screen, as it
	// last said with the visibility command; guarded by the Hub's mu.
	visible bool

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
	// closeOnce guards the connection's one close (see shut); closed is
	// closed by the drain goroutine that closed the connection.
	closeOnce sync.Once
	closed    chan struct{}

	pingMu   sync.Mutex
	pingT    *time.Timer
	pingDone bool
}

// socketKind tells the two endpoints apart.
type socketKind uint8

const (
	roomSocket socketKind = iota // /ws/room/{username}
	chatSocket                   // /ws/chat/{username}/{consumer}
)

// push queues a frame without ever blocking; a full queue kicks the socket
// with 1008 so that a slow reader cannot slow its room down.
func (c *subscriber) push(frame []byte) {
	select {
	case c.send <- frame:
		c.wake()
	default:
		c.kick(websocket.StatusPolicyViolation, "too slow: send queue full")
	}
}

// kick asks the socket's writer to close it with code; the first kick wins.
func (c *subscriber) kick(code websocket.StatusCode, reason string) {
	c.kickOnce.Do(func() {
		c.kickCode, c.kickReason = code, reason
		close(c.kicked)
	})
	c.wake()
}

// isKicked reports whether the socket is to be closed.
func (c *subscriber) isKicked() bool {
	select {
	case <-c.kicked:
		return true
	default:
		return false
	}
}

// wake starts the drain goroutine unless one runs (or the socket is not
// live yet).
func (c *subscriber) wake() {
	if c.live.Load() && c.writing.CompareAndSwap(false, true) {
		go c.drain()
	}
}

// drain is the socket's only writer while it runs: it writes queued
// frames until the queue is empty, then ends. A kick wins over queued
// frames: the drain that sees it closes the connection and leaves writing
// set, so no other drain ever starts.
func (c *subscriber) drain() {
	for {
		if c.isKicked() {
			c.shut(c.kickCode, c.kickReason)
			close(c.closed)
			return
		}
		select {
		case f := <-c.send:
			if err := c.writeFrames(f); err != nil {
				// The peer is gone or stuck; the read loop fails next and
				// serveSocket kicks, which this loop then handles.
				c.shut(websocket.StatusAbnormalClosure, "")
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
func (c *subscriber) schedulePing(interval time.Duration) {
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
			c.shut(websocket.StatusAbnormalClosure, "")
			return
		}
		c.schedulePing(interval)
	})
}

// stopPing stops the ping timer for good.
func (c *subscriber) stopPing() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pingDone = true
	if c.pingT != nil {
		c.pingT.Stop()
	}
}

// writeFrames writes f and whatever else is queued already under one
// write deadline.
func (c *subscriber) writeFrames(f []byte) error {
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

// shut closes the connection: with the close handshake (code, reason), or
// at once for StatusAbnormalClosure (the peer is gone or stuck). Every
// path that closes a socket comes here, so each is closed exactly once:
// a second close frame makes browsers report "Close received after close".
func (c *subscriber) shut(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		if code == websocket.StatusAbnormalClosure {
			c.conn.CloseNow()
			return
		}
		c.conn.Close(code, reason)
	})
}
