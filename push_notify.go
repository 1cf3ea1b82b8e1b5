package main

// Push triggers (SPEC Part 2, "Browser push"): a visitor message is pushed
// to every browser of every agent of the business who has no inbox on
// screen (hub_visible.go) — when the room is assigned (rooms.assignee_id,
// if the schema has it), only to its assignee. The first visitor message
// of a room is titled "New conversation": a room alone is not pushed,
// since the widget makes one on every page view before anyone writes.
//
// The message path only does a non-blocking send onto pushQueue, and not
// even that while no browser of the server is subscribed. One goroutine
// takes the events, folds several of one room into the newest, and sends.

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
)

// pushQueueSize is how many visitor messages may wait to be pushed; past
// it a push is dropped (the next message of the room is pushed anyway).
const pushQueueSize = 1024

// pushEvent is one visitor message to push.
type pushEvent struct {
	business, roomID, msgID int64
	handle, consumer, text  string
}

// pushNotifier is the queue and the state of the push triggers.
type pushNotifier struct {
	queue chan pushEvent
	// any is whether some browser is subscribed at all: while none is,
	// messages are not even queued.
	any atomic.Bool
	// hasAssignee: the rooms table has assignee_id (the inbox work).
	hasAssignee bool
	done        chan struct{}
	stop        sync.Once
}

// startPushNotifier starts the push goroutine; stopNotifier ends it.
func (s *Server) startPushNotifier() {
	pn := &pushNotifier{queue: make(chan pushEvent, pushQueueSize), done: make(chan struct{})}
	ctx := context.Background()
	var n int
	if err := s.db.reader.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info('rooms') WHERE name = 'assignee_id'").Scan(&n); err == nil {
		pn.hasAssignee = n > 0
	}
	s.pushN = pn
	s.refreshPushAny(ctx)
	go s.pushLoop()
}

// refreshPushAny reads whether any push subscription exists.
func (s *Server) refreshPushAny(ctx context.Context) {
	var one int
	err := s.db.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM push_subscriptions)").Scan(&one)
	s.pushN.any.Store(err != nil || one == 1)
}

// queuePush is called after a visitor message is committed.
func (s *Server) queuePush(op *commitOp) {
	pn := s.pushN
	if pn == nil || !pn.any.Load() {
		return
	}
	select {
	case pn.queue <- pushEvent{business: op.userID, roomID: op.roomID, msgID: op.msg.ID, handle: op.username, consumer: op.consumer, text: op.msg.Content}:
	default:
		s.log.Warn("push: queue full; a notification is dropped", "room", op.roomID)
	}
}

// pushLoop sends the queued pushes until the queue is closed.
func (s *Server) pushLoop() {
	pn := s.pushN
	defer close(pn.done)
	for ev := range pn.queue {
		// Fold what else is waiting: one push per room, the newest.
		batch := map[int64]pushEvent{ev.roomID: ev}
		order := []int64{ev.roomID}
	drain:
		for {
			select {
			case e, ok := <-pn.queue:
				if !ok {
					break drain
				}
				if _, seen := batch[e.roomID]; !seen {
					order = append(order, e.roomID)
				}
				batch[e.roomID] = e
			default:
				break drain
			}
		}
		for _, id := range order {
			s.pushVisitorMessage(context.Background(), batch[id])
		}
	}
}

// pushVisitorMessage pushes one visitor message to the agents who should
// hear of it.
func (s *Server) pushVisitorMessage(ctx context.Context, ev pushEvent) {
	q := `SELECT DISTINCT u.id FROM users u JOIN push_subscriptions p ON p.user_id = u.id WHERE u.business_id = ?`
	args := []any{ev.business}
	if s.pushN.hasAssignee {
		q += ` AND coalesce((SELECT assignee_id FROM rooms WHERE id = ?), u.id) = u.id`
		args = append(args, ev.roomID)
	}
	rows, err := s.db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		s.log.Error("push: agents", "err", err)
		return
	}
	var agents []int64
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			agents = append(agents, id)
		}
	}
	rows.Close()
	if len(agents) == 0 {
		return
	}
	var earlier int
	_ = s.db.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE room_id = ? AND id < ?)", ev.roomID, ev.msgID).Scan(&earlier)
	title := "New message on " + ev.handle
	if earlier == 0 {
		title = "New conversation on " + ev.handle
	}
	msg := PushMessage{
		Title: title,
		Body:  truncateRunes(oneLine(ev.text, 1000), 100),
		URL:   "/messages#c=" + url.PathEscape(ev.consumer),
		Tag:   "room-" + strconv.FormatInt(ev.roomID, 10),
	}
	for _, agent := range agents {
		if s.hub.InboxVisible(agent) {
			continue
		}
		if _, err := s.pushToUser(ctx, agent, msg); err != nil {
			s.log.Warn("push: not delivered", "agent", agent, "err", err)
		}
	}
	// Gone subscriptions were deleted on the way: maybe the last one.
	s.refreshPushAny(ctx)
}

// cmdVisibility handles {"command":"visibility","visible":bool} on an
// agent's room socket: whether the inbox is on screen. No answer.
func (s *Server) cmdVisibility(c *client, f *inFrame) {
	var v bool
	if len(f.Visible) == 0 || json.Unmarshal(f.Visible, &v) != nil {
		c.fail(codeBadField, "\"visible\" must be true or false.")
		return
	}
	s.hub.SetVisible(&c.subscriber, v)
}

// stopPushNotifier ends the push goroutine once the pushes queued so far
// are sent; run after the group commit stopped publishing.
func (s *Server) stopPushNotifier() {
	if s.pushN == nil {
		return
	}
	s.pushN.stop.Do(func() { close(s.pushN.queue) })
	<-s.pushN.done
}
