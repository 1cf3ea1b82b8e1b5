package main

// The durable mail outbox. An email is a row in the goqite table
// (maragu.dev/goqite), inserted in the same transaction as the event that
// causes it, so it exists exactly when the event does. One background
// sender takes rows in order, hands them to the SMTP server, and deletes a
// row only after the server accepted its DATA; a failure puts the row back
// with exponential backoff until it is 24 h old, a refusal (5xx) or that
// age records a permanent failure for the owner to see.
//
// Guarantees: a restart or an SMTP outage loses nothing (the row stays
// until accepted), and a mail the server accepted is never sent again by
// us, except in the two windows SMTP and a crash leave open: (1) the
// connection breaks after the final "." but before the server's 250
// arrives (RFC 1047), so we cannot know it was accepted; (2) the process
// dies between the 250 and the commit of the delete. Both resend the same
// Message-ID, which lets mail systems and clients fold the duplicate.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"maragu.dev/goqite"
)

// Outbox timing defaults.
const (
	outboxQueue      = "mail"
	outboxGiveUp     = 24 * time.Hour   // age at which a failing mail is a permanent failure
	outboxBackoff    = 30 * time.Second // the first retry's delay, doubled each time
	outboxMaxBackoff = 15 * time.Minute // the longest delay between tries
	outboxPoll       = 5 * time.Second  // how often an idle sender looks for due mail
	// outboxInFlight hides a taken mail from the queue while it is being
	// sent; after a crash mid-send it is due again this long after.
	outboxInFlight = 2 * time.Minute
)

// Outbox queues and sends email. A nil *Outbox is mail switched off: it
// queues nothing and reports MailEnabled false.
type Outbox struct {
	db     *DB
	q      *goqite.Queue
	mailer *mailer
	log    *slog.Logger

	// Timing, DefaultOutbox's values; tests shorten them.
	giveUp, backoff, maxBackoff, poll, stopGrace time.Duration

	wake  chan struct{}
	stop  context.CancelFunc // ends the loop
	abort context.CancelFunc // cuts off a send in progress
	done  chan struct{}
	mu    sync.Mutex
	// status is what the sender last saw, per business (Mail.UserID): an
	// SMTP error can name a recipient, which is that business's visitor.
	status map[int64]outboxStatus
	// metrics counts sends and failures (nil: not measured).
	metrics *metrics
}

// outboxStatus is what the sender last saw for one business, for settings.
type outboxStatus struct {
	lastSent    time.Time
	lastError   string // the last failed try, permanent or not
	lastErrorAt time.Time
}

// newOutbox makes the outbox over db's writer, or returns nil when m is nil
// (mail off). Start runs its sender.
func newOutbox(db *DB, m *mailer, logger *slog.Logger) *Outbox {
	if m == nil {
		return nil
	}
	return &Outbox{
		db:     db,
		mailer: m,
		log:    logger,
		q: goqite.New(goqite.NewOpts{
			DB:   db.writer,
			Name: outboxQueue,
			// The sender decides when to give up (by age), not goqite.
			MaxReceive: math.MaxInt32,
			Timeout:    outboxInFlight,
		}),
		giveUp:     outboxGiveUp,
		backoff:    outboxBackoff,
		maxBackoff: outboxMaxBackoff,
		poll:       outboxPoll,
		stopGrace:  outboxStopGrace,
		wake:       make(chan struct{}, 1),
		status:     map[int64]outboxStatus{},
	}
}

// MailEnabled reports whether mail is configured (settings: "mail is off").
func (o *Outbox) MailEnabled() bool { return o != nil }

// Enqueue queues m inside tx, the transaction of the event that causes the
// email; it is sent once tx commits and never if tx rolls back. With mail
// off it does nothing. An invalid recipient or link is an error now.
func (o *Outbox) Enqueue(ctx context.Context, tx *sql.Tx, m Mail) error {
	if o == nil {
		return nil
	}
	if err := checkMail(&m); err != nil {
		return err
	}
	m.MessageID = o.mailer.newMessageID()
	m.Date = o.db.now().UTC().Truncate(time.Second)
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := o.q.SendTx(ctx, tx, goqite.Message{Body: body}); err != nil {
		return err
	}
	// The sender's next receive waits for the writer connection, so it
	// runs after this transaction ends and finds the mail if it committed.
	o.Wake()
	return nil
}

// Wake makes the sender look for due mail now rather than at its next poll.
func (o *Outbox) Wake() {
	if o == nil {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Start runs the sender until Stop.
func (o *Outbox) Start() {
	if o == nil {
		return
	}
	// Only this process sends from this database, so a mail still marked
	// as taken was being sent when the last run ended (a crash): due now,
	// like mail waiting out a backoff, so a restart retries everything.
	now := time.Now().UTC().Format(goqiteTime) // goqite's clock and format
	if _, err := o.db.writer.Exec("UPDATE goqite SET timeout = ? WHERE queue = ? AND timeout > ?", now, outboxQueue, now); err != nil {
		o.log.Error("outbox: requeue", "err", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sendCtx, abort := context.WithCancel(context.Background())
	o.stop, o.abort = cancel, abort
	o.done = make(chan struct{})
	go o.run(ctx, sendCtx)
}

// outboxStopGrace is how long Stop lets a send in progress finish before
// cutting it off, so a mail server that does not answer cannot hold up a
// shutdown.
const outboxStopGrace = 5 * time.Second

// Stop ends the sender and waits for it. A send in progress gets
// outboxStopGrace to finish, so a mail the server accepts is deleted
// before the database closes; one cut off stays queued for the next start.
func (o *Outbox) Stop() {
	if o == nil || o.stop == nil {
		return
	}
	o.stop()
	select {
	case <-o.done:
	case <-time.After(o.stopGrace):
		o.abort()
		<-o.done
	}
	o.abort()
	o.stop = nil
}

// run is the sender loop: take the oldest due mail, send it, repeat; when
// none is due, wait for Wake or the poll interval.
func (o *Outbox) run(ctx, sendCtx context.Context) {
	defer close(o.done)
	woken := true // look at once on start
	for ctx.Err() == nil {
		var msg *goqite.Message
		// goqite's Receive is a write transaction on the one writer
		// connection. An idle poll asks the reader first, so a server
		// with nothing to send never takes the write lock for it; a Wake
		// goes straight to Receive, which waits for the enqueuing
		// transaction to end and then sees its mail.
		if woken || o.due(ctx) {
			var err error
			if msg, err = o.q.Receive(ctx); err != nil {
				if ctx.Err() == nil {
					o.log.Error("outbox: receive", "err", err)
				}
				msg = nil
			}
		}
		if msg == nil {
			woken = false
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				woken = true
			case <-time.After(o.poll):
			}
			continue
		}
		woken = true // there may be more
		// A send already begun is finished even if Stop is called, unless
		// it outlasts outboxStopGrace.
		o.deliver(sendCtx, msg)
	}
}

// deliver sends one queued mail and settles its row.
//
// sendCtx bounds the SMTP exchange only (Stop cuts it off); the database
// work after it always runs, above all the delete of an accepted mail.
func (o *Outbox) deliver(sendCtx context.Context, msg *goqite.Message) {
	ctx := context.WithoutCancel(sendCtx)
	var m Mail
	if err := json.Unmarshal(msg.Body, &m); err != nil {
		o.fail(ctx, msg.ID, &m, "unreadable outbox entry: "+err.Error())
		return
	}
	delivered, err := o.mailer.send(sendCtx, &m)
	if !delivered && sendCtx.Err() != nil {
		// Cut off by Stop: not the mail server's fault. The mail stays
		// taken, and the next start makes it due at once.
		o.log.Warn("outbox: send cut off by shutdown; the mail stays queued", "id", msg.ID)
		return
	}
	if delivered {
		// Accepted: delete it, trying hard, since a row left behind is a
		// duplicate after outboxInFlight.
		var derr error
		for try := 0; try < 5; try++ {
			if derr = o.q.Delete(ctx, msg.ID); derr == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
		}
		if derr != nil {
			o.log.Error("outbox: a sent mail could not be removed from the queue and may be sent again", "id", msg.ID, "err", derr)
		}
		o.metrics.mailSent()
		o.mu.Lock()
		st := o.status[m.UserID]
		st.lastSent = o.db.now()
		o.status[m.UserID] = st
		o.mu.Unlock()
		return
	}
	o.metrics.mailFailed()
	o.mu.Lock()
	st := o.status[m.UserID]
	st.lastError, st.lastErrorAt = err.Error(), o.db.now()
	o.status[m.UserID] = st
	o.mu.Unlock()
	if isPermanent(err) {
		o.fail(ctx, msg.ID, &m, err.Error())
		return
	}
	if age := o.db.now().Sub(m.Date); age >= o.giveUp {
		o.fail(ctx, msg.ID, &m, "gave up after "+age.Round(time.Minute).String()+" of tries; last: "+err.Error())
		return
	}
	tries, qerr := o.tries(ctx, msg.ID)
	if qerr != nil {
		tries = 1
	}
	delay := o.backoffFor(tries)
	o.log.Warn("outbox: mail not sent, will retry", "id", msg.ID, "tries", tries, "retry_in", delay, "err", err)
	if err := o.q.Extend(ctx, msg.ID, delay); err != nil {
		// It is due again after outboxInFlight anyway.
		o.log.Error("outbox: extend", "id", msg.ID, "err", err)
	}
}

// due reports whether some mail is due, on the reader.
func (o *Outbox) due(ctx context.Context) bool {
	now := time.Now().UTC().Format(goqiteTime) // goqite's clock and format
	var one int
	err := o.db.reader.QueryRowContext(ctx, "SELECT 1 FROM goqite WHERE queue = ? AND timeout <= ? LIMIT 1", outboxQueue, now).Scan(&one)
	return err == nil
}

// goqiteTime is goqite's time format (UTC, milliseconds), for comparing
// with its timeout column.
const goqiteTime = "2006-01-02T15:04:05.000Z07:00"

// backoffFor is the delay after the n-th failed try: backoff, doubled each
// time, at most maxBackoff.
func (o *Outbox) backoffFor(n int) time.Duration {
	d := o.backoff
	for i := 1; i < n && d < o.maxBackoff; i++ {
		d *= 2
	}
	return min(d, o.maxBackoff)
}

// tries is how many times the mail has been taken from the queue.
func (o *Outbox) tries(ctx context.Context, id goqite.ID) (int, error) {
	var n int
	err := o.db.reader.QueryRowContext(ctx, "SELECT received FROM goqite WHERE id = ?", id).Scan(&n)
	return n, err
}

// fail records a permanent failure and removes the mail, in one
// transaction.
func (o *Outbox) fail(ctx context.Context, id goqite.ID, m *Mail, reason string) {
	o.log.Error("outbox: mail failed for good", "id", id, "to", m.To, "err", reason)
	o.metrics.mailGaveUp()
	err := o.db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO mail_failures (user_id, recipient, subject, error, created) VALUES (?, ?, ?, ?, ?)",
			m.UserID, m.To, m.Subject, reason, o.db.nowMillis()); err != nil {
			return err
		}
		return o.q.DeleteTx(ctx, tx, id)
	})
	if err != nil {
		o.log.Error("outbox: record failure", "id", id, "err", err)
	}
}

// depth is how many mails are queued, for the outbox depth gauge; 0 with
// mail off or when the count fails.
func (o *Outbox) depth() float64 {
	if o == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	if err := o.db.reader.QueryRowContext(ctx, "SELECT count(*) FROM goqite WHERE queue = ?", outboxQueue).Scan(&n); err != nil {
		return 0
	}
	return float64(n)
}

// MailFailure is an email the outbox gave up on.
type MailFailure struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Error   string `json:"error"`
	At      string `json:"at"` // RFC 3339
}

// LastMailFailure is the newest permanent mail failure of the business
// userID, or nil when there is none.
func (db *DB) LastMailFailure(ctx context.Context, userID int64) (*MailFailure, error) {
	var f MailFailure
	var at int64
	err := db.reader.QueryRowContext(ctx, "SELECT recipient, subject, error, created FROM mail_failures WHERE user_id = ? ORDER BY id DESC LIMIT 1", userID).
		Scan(&f.To, &f.Subject, &f.Error, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f.At = formatTime(at)
	return &f, nil
}

// MailStatus is what settings show about mail: off, or on with the queue's
// depth, the last failed try and the business's last permanent failure.
type MailStatus struct {
	Enabled     bool         `json:"enabled"`
	Queued      int          `json:"queued"`
	LastSent    string       `json:"last_sent,omitempty"`
	LastError   string       `json:"last_error,omitempty"` // the business's last failed try, if after its last success
	LastFailure *MailFailure `json:"last_failure"`
}

// Status reports mail's state for the business userID. Queued counts the
// whole outbox (the server's one mail connection is shared); the rest is
// the business's own. LastSent and LastError are since this start.
func (o *Outbox) Status(ctx context.Context, userID int64) (MailStatus, error) {
	if o == nil {
		return MailStatus{}, nil
	}
	st := MailStatus{Enabled: true}
	if err := o.db.reader.QueryRowContext(ctx, "SELECT count(*) FROM goqite WHERE queue = ?", outboxQueue).Scan(&st.Queued); err != nil {
		return st, err
	}
	o.mu.Lock()
	seen := o.status[userID]
	o.mu.Unlock()
	if !seen.lastSent.IsZero() {
		st.LastSent = formatTime(seen.lastSent.UnixMilli())
	}
	// An error older than the last success is history.
	if seen.lastError != "" && seen.lastErrorAt.After(seen.lastSent) {
		st.LastError = seen.lastError
	}
	f, err := o.db.LastMailFailure(ctx, userID)
	st.LastFailure = f
	return st, err
}
