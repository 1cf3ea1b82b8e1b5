package main

// The notifier: emails about conversations nobody is looking at (SPEC
// Part 2, "Mail").
//
// One goroutine scans every notifyScanEvery (a quarter of --notify-after,
// at most 5 s): it reads the messages after its watermark (the newest
// message already looked at, kept in server_state) in id order and stops
// at the first one younger than --notify-after. So the message hot path
// does nothing for mail, a scan with nothing due is one indexed read of
// the messages table (by its primary key), and each message is looked at
// once, when it comes of age:
//
//   - a visitor message no agent has read (rooms.admin_read_up_to) is
//     mailed to every agent of the business with an email and
//     notify_email on, with the room's other unread visitor messages and a
//     link to the conversation in the inbox; at most one email per
//     conversation per agent per notifyAgentEvery (agent_notices): one
//     held back by that limit is sent when it ends, if still unread;
//   - an agent's reply the visitor has not read (rooms.visitor_read_up_to)
//     is mailed to the room's email, unless the visitor unsubscribed, with
//     a link back to the conversation and a one-click unsubscribe. Never
//     a private note, never an automatic message (the away reply).
//
// The emails, the notices and the new watermark are written in one
// transaction: a crash before its commit scans the same messages again, a
// crash after it finds the emails in the outbox; nothing is mailed twice
// or lost. With mail off (no --smtp) the watermark still moves, so turning
// mail on later does not mail old conversations.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"time"
)

const (
	// notifyAgentEvery is the least time between two emails to one agent
	// about one conversation.
	notifyAgentEvery = 30 * time.Minute
	// notifyScanBatch is how many messages one transaction of a scan
	// looks at; a scan goes on batch after batch until it reaches the
	// messages younger than notify-after.
	notifyScanBatch = 2000
	// notifyQuote is how many messages one email quotes at most (the
	// newest).
	notifyQuote = 20
	// notifyWatermark is the server_state row of the watermark.
	notifyWatermark = "notify_watermark"
)

// notifyScanEvery is the scan interval for notify-after d: a quarter of
// it, so an email leaves at most 25 % late, between 20 ms and 5 s.
func notifyScanEvery(d time.Duration) time.Duration {
	return min(max(d/4, 20*time.Millisecond), 5*time.Second)
}

// startNotifier runs the scan loop until stopNotifier.
func (s *Server) startNotifier() {
	s.notifyStop, s.notifyDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.notifyDone)
		t := time.NewTicker(notifyScanEvery(s.cfg.NotifyAfter))
		defer t.Stop()
		for {
			select {
			case <-s.notifyStop:
				return
			case <-t.C:
				if err := s.notifyScan(context.Background()); err != nil {
					s.log.Error("notifier: scan", "err", err)
				}
			}
		}
	}()
}

// stopNotifier ends the scan loop and waits for it.
func (s *Server) stopNotifier() {
	if s.notifyStop == nil {
		return
	}
	select {
	case <-s.notifyStop:
	default:
		close(s.notifyStop)
	}
	<-s.notifyDone
}

// notifyRoomDue is what one scan found in one room.
type notifyRoomDue struct {
	visitor bool // a visitor message came of age
	reply   bool // a reply the visitor may be mailed came of age
}

// notifyScan looks at the messages that came of age since the last scan
// and at held-back agent notices now due, and queues their emails.
func (s *Server) notifyScan(ctx context.Context) error {
	// One scan at a time (the loop's, or a test's): two would mail the
	// same messages.
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	now := s.db.now()
	for {
		more, err := s.notifyBatch(ctx, now)
		if err != nil || !more {
			return err
		}
		select {
		case <-s.notifyStop:
			return nil
		default:
		}
	}
}

// notifyBatch is one batch of a scan; more reports a full batch of
// messages all of age, so that the scan goes on.
func (s *Server) notifyBatch(ctx context.Context, now time.Time) (more bool, err error) {
	cutoff := now.Add(-s.cfg.NotifyAfter).UnixMilli()
	var wm int64
	if err := s.db.reader.QueryRowContext(ctx, "SELECT value FROM server_state WHERE name = ?", notifyWatermark).Scan(&wm); err != nil {
		return false, err
	}
	rows, err := s.db.reader.QueryContext(ctx, `SELECT m.id, m.room_id, m.created,
			m.author = r.consumer AND m.agent_id IS NULL AND m.auto = 0,
			m.author <> r.consumer AND m.auto = 0 AND m.private = 0
		FROM messages m JOIN rooms r ON r.id = m.room_id
		WHERE m.id > ? ORDER BY m.id LIMIT ?`, wm, notifyScanBatch)
	if err != nil {
		return false, err
	}
	due := map[int64]*notifyRoomDue{}
	newWM := wm
	read, young := 0, false
	for rows.Next() {
		read++
		var id, room, created int64
		var visitor, reply bool
		if err := rows.Scan(&id, &room, &created, &visitor, &reply); err != nil {
			rows.Close()
			return false, err
		}
		if created > cutoff {
			young = true
			break
		}
		newWM = id
		if visitor || reply {
			d := due[room]
			if d == nil {
				d = &notifyRoomDue{}
				due[room] = d
			}
			d.visitor = d.visitor || visitor
			d.reply = d.reply || reply
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	// Notices held back by the 30-minute limit, now due.
	var retry []int64
	if s.outbox != nil {
		r2, err := s.db.reader.QueryContext(ctx, "SELECT DISTINCT room_id FROM agent_notices WHERE retry_at > 0 AND retry_at <= ?", now.UnixMilli())
		if err != nil {
			return false, err
		}
		for r2.Next() {
			var id int64
			if err := r2.Scan(&id); err != nil {
				r2.Close()
				return false, err
			}
			retry = append(retry, id)
		}
		r2.Close()
		if err := r2.Err(); err != nil {
			return false, err
		}
	}
	if newWM == wm && len(retry) == 0 {
		return false, nil
	}
	for _, id := range retry {
		if due[id] == nil {
			due[id] = &notifyRoomDue{}
		}
		due[id].visitor = true
	}
	more = read == notifyScanBatch && !young
	return more, s.db.inTx(ctx, func(tx *sql.Tx) error {
		if s.outbox != nil {
			for roomID, d := range due {
				if err := s.notifyRoom(ctx, tx, roomID, d, newWM, now); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, "UPDATE server_state SET value = ? WHERE name = ?", newWM, notifyWatermark)
		return err
	})
}

// notifyRoomRow is what the emails of one room need to know about it.
type notifyRoomRow struct {
	id, business            int64
	handle, consumer, email string
	adminRead, visitorRead  int64
	visitorMailed           int64
	unsubscribe             sql.NullString
	mailOff                 bool
	businessName            string
	businessEmail           string
}

// notifyRoom queues the emails one room's due messages call for, up to
// message id upTo, inside tx.
func (s *Server) notifyRoom(ctx context.Context, tx *sql.Tx, roomID int64, d *notifyRoomDue, upTo int64, now time.Time) error {
	var r notifyRoomRow
	err := tx.QueryRowContext(ctx, `SELECT r.id, r.user_id, b.username, r.consumer, r.consumer_email, r.admin_read_up_to,
			r.visitor_read_up_to, r.visitor_mailed_up_to, r.unsubscribe_token, r.mail_off, coalesce(c.chatbot_name, b.username), b.email
		FROM rooms r JOIN users b ON b.id = r.user_id LEFT JOIN chatbots c ON c.user_id = r.user_id WHERE r.id = ?`, roomID).
		Scan(&r.id, &r.business, &r.handle, &r.consumer, &r.email, &r.adminRead, &r.visitorRead, &r.visitorMailed,
			&r.unsubscribe, &r.mailOff, &r.businessName, &r.businessEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	if r.businessName == "" {
		r.businessName = r.handle
	}
	if d.visitor {
		if err := s.notifyAgents(ctx, tx, &r, upTo, now); err != nil {
			return err
		}
	}
	if d.reply {
		if err := s.notifyVisitor(ctx, tx, &r, upTo); err != nil {
			return err
		}
	}
	return nil
}

// quotedSince reads the room's messages after id from, up to upTo, of one
// side (visitor's or replies), the newest notifyQuote, oldest first.
func quotedSince(ctx context.Context, tx *sql.Tx, r *notifyRoomRow, from, upTo int64, visitor bool) ([]quotedMessage, int64, error) {
	side := "m.author = ? AND m.agent_id IS NULL AND m.auto = 0"
	if !visitor {
		side = "m.author <> ? AND m.auto = 0 AND m.private = 0"
	}
	rows, err := tx.QueryContext(ctx, `SELECT * FROM (SELECT m.id, m.author, m.agent, m.content, m.file, m.created FROM messages m
		WHERE m.room_id = ? AND m.id > ? AND m.id <= ? AND `+side+` ORDER BY m.id DESC LIMIT ?) ORDER BY id`,
		r.id, from, upTo, r.consumer, notifyQuote)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var msgs []quotedMessage
	var last int64
	for rows.Next() {
		var id, created int64
		var author, agent, content, file string
		if err := rows.Scan(&id, &author, &agent, &content, &file, &created); err != nil {
			return nil, 0, err
		}
		q := quotedMessage{Content: content, At: time.UnixMilli(created)}
		switch {
		case visitor && r.email != "":
			q.Author = r.email
		case visitor:
			q.Author = "Visitor"
		case agent != "":
			q.Author = agent
		default:
			q.Author = r.businessName
		}
		if file != "" {
			q.File = fileNameOf(file)
		}
		msgs = append(msgs, q)
		last = id
	}
	return msgs, last, rows.Err()
}

// fileNameOf is the file name at the end of a message's file path
// (/files/<token>/<name>).
func fileNameOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// notifyAgents mails the room's unread visitor messages to each agent who
// wants email, at most once per notifyAgentEvery each.
func (s *Server) notifyAgents(ctx context.Context, tx *sql.Tx, r *notifyRoomRow, upTo int64, now time.Time) error {
	type agent struct {
		id         int64
		email      string
		upTo, sent int64
		retryAt    int64
	}
	rows, err := tx.QueryContext(ctx, `SELECT u.id, u.email, coalesce(n.up_to, 0), coalesce(n.sent, 0), coalesce(n.retry_at, 0)
		FROM users u LEFT JOIN agent_notices n ON n.room_id = ? AND n.user_id = u.id
		WHERE u.business_id = ? AND u.email <> '' AND u.notify_email = 1 ORDER BY u.id`, r.id, r.business)
	if err != nil {
		return err
	}
	var agents []agent
	for rows.Next() {
		var a agent
		if err := rows.Scan(&a.id, &a.email, &a.upTo, &a.sent, &a.retryAt); err != nil {
			rows.Close()
			return err
		}
		agents = append(agents, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	base := publicURL(s.cfg)
	nowMs := now.UnixMilli()
	for _, a := range agents {
		msgs, last, err := quotedSince(ctx, tx, r, max(r.adminRead, a.upTo), upTo, true)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			// Read meanwhile, or mailed already: nothing held back.
			if a.retryAt != 0 {
				if _, err := tx.ExecContext(ctx, "UPDATE agent_notices SET retry_at = 0 WHERE room_id = ? AND user_id = ?", r.id, a.id); err != nil {
					return err
				}
			}
			continue
		}
		if next := a.sent + notifyAgentEvery.Milliseconds(); a.sent != 0 && next > nowMs {
			// Mailed about this conversation lately: hold back until then.
			if _, err := tx.ExecContext(ctx, "UPDATE agent_notices SET retry_at = ? WHERE room_id = ? AND user_id = ?", next, r.id, a.id); err != nil {
				return err
			}
			continue
		}
		m := agentNotifyMail(base, r.business, a.email, r.businessName, r.consumer, r.email, msgs)
		if err := s.outbox.Enqueue(ctx, tx, m); err != nil {
			s.log.Warn("notifier: agent email not queued", "agent", a.id, "err", err)
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_notices (room_id, user_id, up_to, sent, retry_at) VALUES (?, ?, ?, ?, 0)
			ON CONFLICT (room_id, user_id) DO UPDATE SET up_to = excluded.up_to, sent = excluded.sent, retry_at = 0`, r.id, a.id, last, nowMs); err != nil {
			return err
		}
	}
	return nil
}

// notifyVisitor mails the visitor the replies they have not read and were
// not mailed yet, unless they unsubscribed.
func (s *Server) notifyVisitor(ctx context.Context, tx *sql.Tx, r *notifyRoomRow, upTo int64) error {
	if r.email == "" || r.mailOff {
		return nil
	}
	msgs, last, err := quotedSince(ctx, tx, r, max(r.visitorRead, r.visitorMailed), upTo, false)
	if err != nil || len(msgs) == 0 {
		return err
	}
	token := r.unsubscribe.String
	if !r.unsubscribe.Valid || token == "" {
		var b [16]byte
		rand.Read(b[:])
		token = base64.RawURLEncoding.EncodeToString(b[:])
	}
	base := publicURL(s.cfg)
	m := visitorReplyMail(base, r.business, r.handle, r.businessName, r.businessEmail, r.consumer, r.email,
		base+"/unsubscribe/"+token, msgs)
	if err := s.outbox.Enqueue(ctx, tx, m); err != nil {
		// A bad address is the visitor's; the next reply tries again.
		s.log.Warn("notifier: visitor email not queued", "room", r.id, "err", err)
		return nil
	}
	_, err = tx.ExecContext(ctx, "UPDATE rooms SET visitor_mailed_up_to = ?, unsubscribe_token = ? WHERE id = ?", last, token, r.id)
	return err
}

// handleUnsubscribePage handles "GET /unsubscribe/{token}": a page with
// one button that unsubscribes (a link opened by a mail scanner changes
// nothing).
func (s *Server) handleUnsubscribePage(w http.ResponseWriter, r *http.Request) {
	name, off, err := s.db.unsubscribeRoom(r.Context(), r.PathValue("token"), false)
	if errors.Is(err, errNotFound) {
		s.renderNotFound(w, r, "This unsubscribe link is unknown: the conversation may have been deleted.", false)
		return
	}
	if err != nil {
		s.log.Error("unsubscribe page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	s.renderPage(w, r, http.StatusOK, "unsubscribe.html", pageData{Title: "Unsubscribe", Message: name,
		Consumer: r.PathValue("token"), Online: off})
}

// handleUnsubscribe handles "POST /unsubscribe/{token}": RFC 8058's
// one-click unsubscribe (the mail provider POSTs
// "List-Unsubscribe=One-Click") and the page's button. No more email about
// this conversation goes to the visitor.
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	name, _, err := s.db.unsubscribeRoom(r.Context(), r.PathValue("token"), true)
	if errors.Is(err, errNotFound) {
		s.renderNotFound(w, r, "This unsubscribe link is unknown: the conversation may have been deleted.", false)
		return
	}
	if err != nil {
		s.log.Error("unsubscribe", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	s.renderPage(w, r, http.StatusOK, "unsubscribe.html", pageData{Title: "Unsubscribed", Message: name,
		Consumer: r.PathValue("token"), Online: true})
}

// unsubscribeRoom finds the room of an unsubscribe token and, with stop,
// turns its mail off. It returns the business's name and whether mail is
// off now.
func (db *DB) unsubscribeRoom(ctx context.Context, token string, stop bool) (string, bool, error) {
	if token == "" || len(token) > 64 {
		return "", false, errNotFound
	}
	var name string
	var off bool
	q := `SELECT coalesce(c.chatbot_name, b.username), r.mail_off FROM rooms r JOIN users b ON b.id = r.user_id
		LEFT JOIN chatbots c ON c.user_id = r.user_id WHERE r.unsubscribe_token = ?`
	var err error
	if stop {
		err = db.inTx(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, q, token).Scan(&name, &off); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "UPDATE rooms SET mail_off = 1 WHERE unsubscribe_token = ?", token)
			off = true
			return err
		})
	} else {
		err = db.reader.QueryRowContext(ctx, q, token).Scan(&name, &off)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, errNotFound
	}
	return name, off, err
}
