package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// The message writer is the one goroutine that stores messages (and
// creates rooms, and stores uploaded files). Requests queue on a channel;
// the writer takes every request waiting at that moment (up to maxBatch),
// runs them in one transaction and commits once: group commit. While one
// batch is being committed (and, with synchronous=FULL, fsynced) the next
// one gathers, so under load one commit carries many messages instead of
// durable throughput collapsing to one fsync per message.
//
// Only after the commit does the writer publish each request's frames, in
// batch order, before it touches the next batch: no one hears of a message
// that is not durable, and fan-out order is id order.

// opKind is what a writeOp asks for.
type opKind uint8

const (
	opMessage opKind = iota // store a message (with a file, for uploads)
	opRoom                  // find or create a room, storing an email if given
)

// writeOp is one request to the writer. The submitter fills the inputs,
// the writer the results.
type writeOp struct {
	kind     opKind
	userID   int64
	username string
	consumer string

	// opMessage inputs.
	roomID      int64
	author      string
	content     string
	typ         string
	clientID    string
	fromVisitor bool
	file        *storedFile
	// from is the sending socket: a repeated client_id answers it alone.
	from *client

	// opRoom input.
	email string

	// Results.
	msg     Message
	dup     bool
	room    *roomRow
	created bool
	frame   []byte // the published frame, for the submitter to reuse
	err     error

	done chan struct{}
}

// errWriterClosed is returned for requests after the server began to stop.
var errWriterClosed = errors.New("message writer closed")

// defaultMaxBatch bounds one group commit.
const defaultMaxBatch = 1024

// msgWriter is the group-commit writer.
type msgWriter struct {
	st       *chatStore
	log      *slog.Logger
	ops      chan *writeOp
	maxBatch int
	// publish is called after each commit for every successful op, in
	// order, from the writer goroutine.
	publish func(*writeOp)
	// onCommit, when set, is told of every commit (metrics.go).
	onCommit func(batch []*writeOp, took time.Duration, err error)
	quit     chan struct{}
	stopped  chan struct{}
	// commits and ops count transactions and requests, so ops/commits is
	// the mean group size (reported by the benchmarks).
	commits, committed atomic.Int64
}

// roomTouch is what a batch changes in one room's row.
type roomTouch struct {
	lastID, lastActivity int64
	unread               int
}

// newMsgWriter starts the writer goroutine. maxBatch 1 turns group commit
// off (one transaction per message; for the benchmark).
func newMsgWriter(st *chatStore, log *slog.Logger, maxBatch int, publish func(*writeOp)) *msgWriter {
	if maxBatch <= 0 {
		maxBatch = defaultMaxBatch
	}
	w := &msgWriter{
		st:       st,
		log:      log,
		ops:      make(chan *writeOp, 4*maxBatch),
		maxBatch: maxBatch,
		publish:  publish,
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go w.loop()
	return w
}

// submit queues op and waits until it is committed (and published) or
// failed. op.done must be a channel with room for one signal; sockets
// reuse theirs.
func (w *msgWriter) submit(op *writeOp) error {
	if op.done == nil {
		op.done = make(chan struct{}, 1)
	}
	select {
	case w.ops <- op:
	case <-w.quit:
		return errWriterClosed
	}
	select {
	case <-op.done:
		return op.err
	case <-w.stopped:
		select {
		case <-op.done:
			return op.err
		default:
			return errWriterClosed
		}
	}
}

// Close stops the writer after the batch in hand; queued requests fail.
func (w *msgWriter) Close() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.stopped
}

func (w *msgWriter) loop() {
	defer close(w.stopped)
	batch := make([]*writeOp, 0, w.maxBatch)
	touched := map[int64]*roomTouch{}
	for {
		select {
		case op := <-w.ops:
			batch = append(batch[:0], op)
		case <-w.quit:
			for {
				select {
				case op := <-w.ops:
					op.err = errWriterClosed
					op.done <- struct{}{}
				default:
					return
				}
			}
		}
	gather:
		for len(batch) < w.maxBatch {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		w.commit(batch, touched)
		for i := range batch {
			batch[i] = nil
		}
	}
}

// commit runs one batch in one transaction, then publishes and answers.
func (w *msgWriter) commit(batch []*writeOp, touched map[int64]*roomTouch) {
	ctx := context.Background()
	clear(touched)
	w.commits.Add(1)
	w.committed.Add(int64(len(batch)))
	start := time.Now()
	err := func() error {
		tx, err := w.st.db.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		ins := tx.Stmt(w.st.insertMessage)
		byCID := tx.Stmt(w.st.messageByCID)
		now := w.st.db.nowMillis()
		for _, op := range batch {
			op.err = nil
			switch op.kind {
			case opRoom:
				op.room, op.created, op.err = ensureRoomTx(ctx, tx, op.userID, op.consumer, op.email, now)
			case opMessage:
				op.err = w.insert(ctx, tx, ins, byCID, op, now, touched)
			}
			// errNotFound (a room deleted meanwhile) undid one statement
			// only. Any other error may have ended the whole transaction
			// (SQLite rolls back on some errors), after which the batch's
			// later statements would autocommit one by one: stored, yet
			// reported failed and never published. Fail the batch instead.
			if op.err != nil && !errors.Is(op.err, errNotFound) {
				return op.err
			}
		}
		for id, t := range touched {
			if _, err := tx.Stmt(w.st.touchRoom).ExecContext(ctx, t.lastActivity, t.lastID, t.unread, id); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if w.onCommit != nil {
		w.onCommit(batch, time.Since(start), err)
	}
	for _, op := range batch {
		if err != nil {
			w.log.Error("message writer: commit failed", "err", err, "batch", len(batch))
			op.err = err
		}
		if op.err == nil && w.publish != nil {
			w.publish(op)
		}
		op.done <- struct{}{}
	}
}

// insert stores one message (and its file) inside the batch transaction.
// A client_id already used in the room returns the stored message with
// op.dup set.
func (w *msgWriter) insert(ctx context.Context, tx *sql.Tx, ins, byCID *sql.Stmt, op *writeOp, now int64, touched map[int64]*roomTouch) error {
	room := roomName(op.username, op.consumer)
	var cid any
	if op.clientID != "" {
		cid = op.clientID
	}
	fileURLPath := ""
	if f := op.file; f != nil {
		if _, err := tx.Stmt(w.st.insertFile).ExecContext(ctx, op.roomID, f.Token, f.Name, f.Mime, len(f.Data), f.Data, now); err != nil {
			return mapInsertError(err)
		}
		fileURLPath = fileURL(f.Token, f.Name)
	}
	typ := op.typ
	if typ == "" {
		typ = "text"
	}
	// Exec rather than RETURNING: no Rows to allocate and close on the
	// hottest statement.
	res, err := ins.ExecContext(ctx, op.roomID, op.author, op.content, typ, fileURLPath, cid, now)
	if err != nil {
		return mapInsertError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// ON CONFLICT DO NOTHING: the client_id is taken.
		op.dup = true
		return scanMessage(byCID.QueryRowContext(ctx, op.roomID, op.clientID), &op.msg, room)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	op.dup = false
	op.msg = Message{ID: id, Author: op.author, Content: op.content, Type: typ, File: fileURLPath,
		Room: room, Created: formatTime(now), ClientID: op.clientID}
	t := touched[op.roomID]
	if t == nil {
		t = &roomTouch{}
		touched[op.roomID] = t
	}
	t.lastID, t.lastActivity = id, now
	if op.fromVisitor {
		t.unread++
	}
	return nil
}

// mapInsertError turns a foreign-key failure (the room was deleted
// meanwhile) into errNotFound. SQLite undoes only the failed statement, so
// the rest of the batch goes on.
func mapInsertError(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey {
		return errNotFound
	}
	return err
}
