package main

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

//go:embed schema.sql
var schemaSQL string

//go:embed schema_notify.sql
var notifySchemaSQL string

//go:embed schema_away.sql
var awaySchemaSQL string

//go:embed schema_wire.sql
var wireSchemaSQL string

//go:embed schema_search.sql
var searchSchemaSQL string

//go:embed schema_fts_queue.sql
var ftsQueueSchemaSQL string

//go:embed schema_fts_shards.sql
var ftsShardsSchemaSQL string

// migrations are the schema steps in order: migrations[i] takes the database
// from user_version i to i+1. Order is important: append new steps at the
// end, never edit a released one.
var migrations = []string{
	schemaSQL,
	notifySchemaSQL, // 2: the mail outbox, VAPID keys, push subscriptions (schema_notify.sql)
	acmeCacheSQL,    // 3: certificates and the ACME account key (acme.go)
	migrationTeam,   // 4: businesses and agents, invites (db_team.go)
	// 5: server_state holds what the server keeps about itself: the
	// device-cookie key (device.go) and the health probe's row (Health).
	`CREATE TABLE server_state (
		name  TEXT PRIMARY KEY,
		value BLOB NOT NULL
	)`,
	awaySchemaSQL,      // 6: hours, away message, askEmail; away replies (schema_away.sql)
	migrationRetention, // 7: chatbots.retention_days (retention.go)
	migrationInbox,     // 8: open/resolved, assignment, private notes, canned replies (teaminbox.go)
	wireSchemaSQL,      // 9: notification state, unsubscribe (schema_wire.sql)
	searchSchemaSQL,    // 10: full-text search, visitors (schema_search.sql)
	ftsQueueSchemaSQL,  // 11: index message words after the commit (schema_fts_queue.sql)
	ftsShardsSchemaSQL, // 12: the index in shards, filled from a mark (schema_fts_shards.sql)
}

// applicationID marks a SQLite file as livechat's ("LVCH"), so the server
// refuses to write its tables into some other program's database.
const applicationID = 0x4C564348

// Errors the db layer returns for the handlers to map onto statuses.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("already exists")
	errNotOurDB = errors.New("not a livechat database")
	errTooNewDB = errors.New("database was written by a newer livechat")
)

// DB is the SQLite store, the one type that runs SQL: every query is a
// method of DB (in the db*.go files) or runs in the group commit's
// transaction (groupcommit.go). All writes go through writer, a pool of
// exactly one connection whose transactions take the write lock up front
// (_txlock=immediate), so writers queue in Go instead of failing with
// SQLITE_BUSY; reads run concurrently on reader, which WAL allows beside
// the writer.
//
// The rule for statements: a query that runs per message or per socket
// command is prepared once, by OpenDB (see prepare), and kept as a field
// below, its SQL written beside the code that executes it; every other
// query (accounts, chatbot, inbox pages, export) is written inline in the
// one method that runs it, on reader for reads and writer for writes.
type DB struct {
	writer *sql.DB
	reader *sql.DB
	// path is the database file (upgrade.go copies it before a migration).
	path string
	// now is the clock, replaced in tests.
	now func() time.Time

	// checkpointer runs the background WAL checkpoints (see checkpointLoop).
	checkpointer    *sql.DB
	stopCheckpoints chan struct{}
	checkpointsDone chan struct{}
	checkpoints     atomic.Int64

	// The last health probe (see Health).
	healthMu  sync.Mutex
	healthAt  time.Time
	healthErr error

	// Prepared statements (see prepare). On the writer, used inside the
	// group-commit transaction:
	insertMessage *sql.Stmt
	messageByCID  *sql.Stmt
	touchRoom     *sql.Stmt
	insertFile    *sql.Stmt
	reopenRoom    *sql.Stmt
	// On the reader:
	pageMessages *sql.Stmt
	pagePublic   *sql.Stmt
	lastPublic   *sql.Stmt
	messageInRm  *sql.Stmt
	roomByName   *sql.Stmt
	// Upgraded is set when opening migrated an existing file (upgrade.go).
	Upgraded *Upgrade

	// away caches each business's hours and away message for the hot
	// path (db_hours.go); awayGen guards it against a stale refill.
	away    sync.Map
	awayGen atomic.Int64
}

// dsn builds the connection string. Per-connection pragmas belong in the DSN:
// a PRAGMA run with one Exec reaches only one pooled connection.
//
// synchronous: NORMAL in WAL mode never corrupts the database and loses
// nothing when the process crashes; a power loss can roll back the last
// transactions. FULL (the default) also survives power loss at the price of
// an fsync per commit, which group commit (groupcommit.go) shares among many
// messages. The operator picks with --synchronous.
func dsn(path string, readOnly bool, synchronous string) string {
	return dsnWithBusy(path, readOnly, synchronous, 10*time.Second)
}

// dsnWithBusy is dsn with another busy timeout: how long a statement waits
// for a lock before it fails with SQLITE_BUSY.
func dsnWithBusy(path string, readOnly bool, synchronous string, busy time.Duration) string {
	v := url.Values{}
	v.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
	v.Set("_foreign_keys", "on")
	v.Set("_journal_mode", "WAL")
	v.Set("_synchronous", synchronous)
	// Deleted content is overwritten with zeros, in the pages written to
	// the WAL and so, after a checkpoint, in the file: an erased
	// conversation is not left readable in free space (see EraseWAL).
	v.Set("_secure_delete", "on")
	if readOnly {
		v.Set("_query_only", "on")
	} else {
		v.Set("_txlock", "immediate")
	}
	return "file:" + url.PathEscape(path) + "?" + v.Encode()
}

// OpenDB opens (creating if needed) the database at path and migrates it
// forward. It refuses files that are not livechat databases and files
// written by a newer version.
func OpenDB(ctx context.Context, path, synchronous string) (*DB, error) {
	if synchronous == "" {
		synchronous = "FULL"
	}
	switch synchronous {
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("synchronous must be OFF, NORMAL, FULL or EXTRA, not %q", synchronous)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("open database %s: is a directory", path)
	}
	writer, err := sql.Open(writerDriver, dsn(path, false, synchronous))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	db := &DB{writer: writer, path: path, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite3", dsn(path, true, synchronous))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	n := max(4, 2*runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	db.reader = reader
	// The checkpointer waits for locks briefly: a TRUNCATE checkpoint holds
	// the write lock while it waits for readers, so it must give up soon
	// and try again rather than stall the writer (see truncateWAL).
	ckpt, err := sql.Open(writerDriver, dsnWithBusy(path, false, synchronous, checkpointBusy))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	db.checkpointer = ckpt
	db.stopCheckpoints = make(chan struct{})
	db.checkpointsDone = make(chan struct{})
	go db.checkpointLoop(checkpointInterval)
	if err := db.prepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: prepare: %w", path, err)
	}
	return db, nil
}

// prepare prepares the statements of the hot paths; the SQL of each is
// beside the code that runs it.
func (db *DB) prepare(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		on  *sql.DB
		sql string
	}{
		{&db.insertMessage, db.writer, insertMessageSQL},
		{&db.messageByCID, db.writer, messageByCIDSQL},
		{&db.touchRoom, db.writer, touchRoomSQL},
		{&db.insertFile, db.writer, insertFileSQL},
		{&db.reopenRoom, db.writer, reopenRoomSQL},
		{&db.pageMessages, db.reader, pageMessagesSQL},
		{&db.pagePublic, db.reader, pagePublicSQL},
		{&db.lastPublic, db.reader, lastPublicSQL},
		{&db.messageInRm, db.reader, messageInRoomSQL},
		{&db.roomByName, db.reader, roomByConsumerSQL},
	} {
		s, err := p.on.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.dst = s
	}
	return nil
}

// Checkpoints. In WAL mode every commit appends to the WAL, and a
// checkpoint copies the WAL back into the database file. By default the
// committing connection does that itself once the WAL passes 1,000 pages,
// so the one writer, and every message queued behind it, waits for the
// copy and its fsync (tens of milliseconds under load). Instead a third
// connection runs a PASSIVE checkpoint (which never blocks the writer or
// readers) every checkpointInterval, and the writer's own automatic
// checkpoint is only a safety net at writerAutocheckpoint pages (80 MB),
// for when the background one cannot keep up.
//
// A checkpoint copies the WAL but leaves the file its size, and SQLite
// only ever reuses it from the start: after a burst, or after a full disk
// made the WAL grow while nothing could be copied out of it, the file
// would keep that space for good. So once the writer has been idle for
// idleTruncateAfter with everything copied, the loop runs a TRUNCATE
// checkpoint, which empties the file, and journal_size_limit cuts it down
// to walSizeLimit whenever the writer restarts it from the start.
const (
	checkpointInterval   = 250 * time.Millisecond
	writerAutocheckpoint = 20000
	idleTruncateAfter    = 2 * time.Second
	walSizeLimit         = 32 << 20
	// checkpointBusy is the checkpointer's busy timeout; truncateWAL
	// tries again after it.
	checkpointBusy = 100 * time.Millisecond
)

// writerDriver is go-sqlite3 with the settings of the connections that
// write (the writer and the checkpointer) that have no DSN parameter; set
// in a ConnectHook so a reopened connection gets them too.
const writerDriver = "sqlite3_livechat_writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d; PRAGMA journal_size_limit = %d",
				writerAutocheckpoint, walSizeLimit), nil)
			return err
		},
	})
}

// checkpointLoop runs passive checkpoints until Close, and truncates the
// WAL once the writer has been idle for idleTruncateAfter.
func (db *DB) checkpointLoop(every time.Duration) {
	defer close(db.checkpointsDone)
	t := time.NewTicker(every)
	defer t.Stop()
	lastFrames, lastChange := -1, time.Now()
	for {
		select {
		case <-db.stopCheckpoints:
			return
		case <-t.C:
			frames, copied, err := db.checkpoint(context.Background())
			if err != nil {
				// Not fatal: the writer's own checkpoint is the safety net.
				continue
			}
			if frames != lastFrames {
				lastFrames, lastChange = frames, time.Now()
				continue
			}
			if frames > 0 && copied == frames && time.Since(lastChange) >= idleTruncateAfter {
				if db.truncateWAL(context.Background(), 0) == nil {
					lastFrames = 0
				}
				lastChange = time.Now()
			}
		}
	}
}

// checkpoint runs one passive checkpoint and counts it. It returns the
// WAL's size in frames and how many of them are in the database file.
func (db *DB) checkpoint(ctx context.Context) (frames, copied int, err error) {
	var busy int
	if err := db.checkpointer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, 0, err
	}
	db.checkpoints.Add(1)
	return frames, copied, nil
}

// errCheckpointBusy: a TRUNCATE checkpoint could not get past the
// readers and the writer in time.
var errCheckpointBusy = errors.New("checkpoint busy")

// truncateWAL copies the whole WAL into the database file and empties the
// WAL, trying for up to wait (0: once). Erasing (DeleteRoom) needs it: the
// WAL still holds the pages as they were before the delete, and
// secure_delete zeroes the deleted content only in the pages it writes.
func (db *DB) truncateWAL(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var busy, frames, copied int
		if err := db.checkpointer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
			return err
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errCheckpointBusy
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close closes the statements and the pools. The WAL is checkpointed by SQLite when the last
// connection closes.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.insertMessage, db.messageByCID, db.touchRoom, db.insertFile, db.reopenRoom,
		db.pageMessages, db.pagePublic, db.lastPublic, db.messageInRm, db.roomByName} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.checkpointer != nil {
		select {
		case <-db.stopCheckpoints:
		default:
			close(db.stopCheckpoints)
		}
		<-db.checkpointsDone
		errs = append(errs, db.checkpointer.Close())
	}
	if db.reader != nil {
		errs = append(errs, db.reader.Close())
	}
	errs = append(errs, db.writer.Close())
	return errors.Join(errs...)
}

// migrate checks the file is livechat's and runs the steps it has not had
// yet (upgrade.go).
func (db *DB) migrate(ctx context.Context) error {
	// The first statements touch the file: a non-SQLite file fails here.
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return notSQLite(err)
	}
	defer conn.Close()
	var appID, version int
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return notSQLite(err)
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if appID != applicationID {
		// A fresh file has no tables; anything else is someone else's.
		var tables int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			return err
		}
		if appID != 0 || version != 0 || tables != 0 {
			return errNotOurDB
		}
	}
	if version > len(migrations) {
		return fmt.Errorf("%w (schema version %d, this binary knows %d)", errTooNewDB, version, len(migrations))
	}
	return db.upgrade(ctx, conn, version)
}

// notSQLite turns SQLite's "file is not a database" into errNotOurDB.
func notSQLite(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return errNotOurDB
	}
	return err
}

// SchemaVersion reports PRAGMA user_version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// Ping checks that the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// healthEvery is how often Health really writes: its answer is kept that
// long, so /healthz (which anyone may call) costs at most one small write
// per healthEvery however often it is asked.
const healthEvery = time.Second

// healthTimeout bounds one probe; a writer stuck longer is unhealthy.
const healthTimeout = 5 * time.Second

// Health reports whether the database can be read and written: nil, or
// a short reason for people (for /healthz). The read is a query, every
// time; the write is real (one row of server_state), because a full disk
// lets every read through: only a write finds it, and only a write finds
// that it has gone. The write's answer is kept for healthEvery.
func (db *DB) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("the database cannot be read: %w", healthReason(err))
	}
	db.healthMu.Lock()
	defer db.healthMu.Unlock()
	if db.healthAt.IsZero() || time.Since(db.healthAt) >= healthEvery {
		db.healthErr = db.probeWrite(ctx)
		db.healthAt = time.Now()
	}
	return db.healthErr
}

func (db *DB) probeWrite(ctx context.Context) error {
	_, err := db.writer.ExecContext(ctx,
		`INSERT INTO server_state (name, value) VALUES ('health_probe', ?)
		 ON CONFLICT (name) DO UPDATE SET value = excluded.value`, db.nowMillis())
	if err != nil {
		return fmt.Errorf("writes to the database fail: %w", healthReason(err))
	}
	return nil
}

// healthReason says what a failed probe ran into, in words that carry no
// path or SQL.
func healthReason(err error) error {
	var se sqlite3.Error
	switch {
	case errors.As(err, &se) && se.Code == sqlite3.ErrFull:
		return errors.New("the disk is full")
	case errors.As(err, &se) && se.Code == sqlite3.ErrIoErr:
		return errors.New("input/output error")
	case errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked):
		return errors.New("the database is locked")
	case errors.As(err, &se) && se.Code == sqlite3.ErrReadonly:
		return errors.New("the database is read-only")
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timed out")
	}
	return errors.New("database error")
}

// inTx runs fn in a write transaction on the single writer connection and
// commits it when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// nowMillis is the current time as stored: Unix milliseconds.
func (db *DB) nowMillis() int64 { return db.now().UnixMilli() }

// isUniqueViolation reports whether err is a UNIQUE constraint failure.
func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
