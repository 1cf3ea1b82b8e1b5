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

// The group committer is the one goroutine that stores messages (and
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

// opKind is what a commitOp asks for.
type opKind uint8

const (
	opMessage opKind = iota // store a message (with a file, for uploads)
	opRoom                  // find or create a room, storing an email if given
)

// commitOp is one request to the group committer: what the writer needs
// to store, and where to answer. The submitter fills the inputs, the
// writer the results. It holds no socket: reply is how a result reaches
// the submitter alone.
type commitOp struct {
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
	// agentID and agent name the agent who wrote a business's message
	// (0 and "" for a visitor's).
	agentID int64
	agent   string
	// private makes the message an agent's note (agents only).
	private bool
	file    *storedFile
	// maxStorage, when > 0, is the most file bytes the account may
	// store: a file that would pass it fails with errStorageFull.
	maxStorage int64
	// reply, if not nil, receives the frame meant for the submitter
	// alone: the stored message, when its client_id was used already.
	reply func(frame []byte)
	// awaySince, when not 0, asks for the away message (awayMessage)
	// after this visitor message unless the room got it at or after
	// awaySince (Unix ms): outside hours, once per closed period
	// (away.go). The result is away.
	awaySince   int64
	awayMessage string

	// opRoom input.
	email string

	// Results.
	msg  Message
	away *Message // the away message stored after msg, if any
	dup  bool
	// reopened: this visitor message reopened a resolved room (the last
	// such message of the room in its batch carries it).
	reopened bool
	room     *roomRow
	created  bool
	frame    []byte // the published frame, for the submitter to reuse
	err      error

	done chan struct{}
}

// errStorageFull: the file would take the account past its storage quota.
var errStorageFull = errors.New("storage quota reached")

// errCommitterClosed is returned for requests after the server began to stop.
var errCommitterClosed = errors.New("group commit closed")

// defaultMaxBatch bounds one group commit.
const defaultMaxBatch = 1024

// groupCommitter is the group-commit writer.
type groupCommitter struct {
	db       *DB
	log      *slog.Logger
	ops      chan *commitOp
	maxBatch int
	// publish is called after each commit for every successful op, in
	// order, from the writer goroutine.
	publish func(*commitOp)
	// onCommit, when set, is told of every commit (metrics.go).
	onCommit func(batch []*commitOp, took time.Duration, err error)
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
	// visitor is the room's last visitor message of the batch, if any.
	visitor *commitOp
}

// newGroupCommitter starts the writer goroutine. maxBatch 1 turns group commit
// off (one transaction per message; for the benchmark).
func newGroupCommitter(db *DB, log *slog.Logger, maxBatch int, publish func(*commitOp)) *groupCommitter {
	if maxBatch <= 0 {
		maxBatch = defaultMaxBatch
	}
	w := &groupCommitter{
		db:       db,
		log:      log,
		ops:      make(chan *commitOp, 4*maxBatch),
		maxBatch: maxBatch,
		publish:  publish,
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go w.loop()
	return w
}

// submit queues op and waits until it is committed (and published) or
// failed. op.done, if set, must be a channel with room for one signal.
func (w *groupCommitter) submit(op *commitOp) error {
	if op.done == nil {
		op.done = make(chan struct{}, 1)
	}
	select {
	case w.ops <- op:
	case <-w.quit:
		return errCommitterClosed
	}
	select {
	case <-op.done:
		return op.err
	case <-w.stopped:
		select {
		case <-op.done:
			return op.err
		default:
			return errCommitterClosed
		}
	}
}

// Close stops the writer after the batch in hand; queued requests fail.
func (w *groupCommitter) Close() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.stopped
}

func (w *groupCommitter) loop() {
	defer close(w.stopped)
	batch := make([]*commitOp, 0, w.maxBatch)
	touched := map[int64]*roomTouch{}
	for {
		select {
		case op := <-w.ops:
			batch = append(batch[:0], op)
		case <-w.quit:
			for {
				select {
				case op := <-w.ops:
					op.err = errCommitterClosed
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
func (w *groupCommitter) commit(batch []*commitOp, touched map[int64]*roomTouch) {
	ctx := context.Background()
	clear(touched)
	w.commits.Add(1)
	w.committed.Add(int64(len(batch)))
	start := time.Now()
	err := func() error {
		tx, err := w.db.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		ins := tx.Stmt(w.db.insertMessage)
		byCID := tx.Stmt(w.db.messageByCID)
		now := w.db.nowMillis()
		for _, op := range batch {
			op.err = nil
			op.reopened = false
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
			// errStorageFull ran no statement at all.
			if op.err != nil && !errors.Is(op.err, errNotFound) && !errors.Is(op.err, errStorageFull) {
				return op.err
			}
		}
		for id, t := range touched {
			if _, err := tx.Stmt(w.db.touchRoom).ExecContext(ctx, t.lastActivity, t.lastID, t.unread, id); err != nil {
				return err
			}
			if t.visitor != nil {
				// A visitor wrote: a resolved room opens again. The
				// statement writes only when the room was resolved.
				res, err := tx.Stmt(w.db.reopenRoom).ExecContext(ctx, id)
				if err != nil {
					return err
				}
				n, _ := res.RowsAffected()
				t.visitor.reopened = n > 0
			}
		}
		return tx.Commit()
	}()
	if w.onCommit != nil {
		w.onCommit(batch, time.Since(start), err)
	}
	for _, op := range batch {
		if err != nil {
			w.log.Error("group commit failed", "err", err, "batch", len(batch))
			op.err = err
		}
		if op.err == nil && w.publish != nil {
			w.publish(op)
		}
		op.done <- struct{}{}
	}
}

// The statements of the group commit, prepared by OpenDB (DB.prepare).
const (
	insertMessageSQL = `INSERT INTO messages (room_id, author, content, type, file, client_id, created, agent_id, agent, private)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	messageByCIDSQL = "SELECT " + messageColumns + " FROM messages WHERE room_id = ? AND client_id = ?"
	touchRoomSQL    = "UPDATE rooms SET last_activity = ?, last_message_id = ?, unread = unread + ? WHERE id = ?"
	insertFileSQL   = "INSERT INTO files (room_id, token, name, mime, size, data, created) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

// insert stores one message (and its file) inside the batch transaction.
// A client_id already used in the room returns the stored message with
// op.dup set.
func (w *groupCommitter) insert(ctx context.Context, tx *sql.Tx, ins, byCID *sql.Stmt, op *commitOp, now int64, touched map[int64]*roomTouch) error {
	room := roomName(op.username, op.consumer)
	var cid any
	if op.clientID != "" {
		cid = op.clientID
	}
	fileURLPath := ""
	if f := op.file; f != nil {
		if op.maxStorage > 0 {
			var used int64
			if err := tx.QueryRowContext(ctx, storedBytesSQL, op.userID).Scan(&used); err != nil {
				return err
			}
			if used+int64(len(f.Data)) > op.maxStorage {
				return errStorageFull
			}
		}
		if _, err := tx.Stmt(w.db.insertFile).ExecContext(ctx, op.roomID, f.Token, f.Name, f.Mime, len(f.Data), f.Data, now); err != nil {
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
	var agentID any
	if op.agentID != 0 {
		agentID = op.agentID
	}
	res, err := ins.ExecContext(ctx, op.roomID, op.author, op.content, typ, fileURLPath, cid, now, agentID, op.agent, op.private)
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
		Room: room, Created: formatTime(now), ClientID: op.clientID, Agent: op.agent, AgentID: op.agentID, Private: op.private}
	t := touched[op.roomID]
	if t == nil {
		t = &roomTouch{}
		touched[op.roomID] = t
	}
	t.lastID, t.lastActivity = id, now
	if op.fromVisitor {
		t.unread++
		t.visitor = op
	}
	op.away = nil
	if op.awaySince != 0 {
		away, err := insertAwayReply(ctx, tx, op, room, now)
		if err != nil {
			return err
		}
		if away != nil {
			op.away = away
			t.lastID = away.ID
		}
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
