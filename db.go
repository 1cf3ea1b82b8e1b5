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

// migrations are the schema steps in order: migrations[i] takes the database
// from user_version i to i+1. Order is important: append new steps at the
// end, never edit a released one.
var migrations = []string{
	schemaSQL,
	notifySchemaSQL,
	awaySchemaSQL,
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
	// now is the clock, replaced in tests.
	now func() time.Time

	// checkpointer runs the background WAL checkpoints (see checkpointLoop).
	checkpointer    *sql.DB
	stopCheckpoints chan struct{}
	checkpointsDone chan struct{}
	checkpoints     atomic.Int64

	// Prepared statements (see prepare). On the writer, used inside the
	// group-commit transaction:
	insertMessage *sql.Stmt
	messageByCID  *sql.Stmt
	touchRoom     *sql.Stmt
	insertFile    *sql.Stmt
	// On the reader:
	pageMessages *sql.Stmt
	messageInRm  *sql.Stmt
	roomByName   *sql.Stmt

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
	v := url.Values{}
	v.Set("_busy_timeout", "10000")
	v.Set("_foreign_keys", "on")
	v.Set("_journal_mode", "WAL")
	v.Set("_synchronous", synchronous)
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
	db := &DB{writer: writer, now: time.Now}
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
	ckpt, err := sql.Open("sqlite3", dsn(path, false, synchronous))
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
		{&db.pageMessages, db.reader, pageMessagesSQL},
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
const (
	checkpointInterval   = 250 * time.Millisecond
	writerAutocheckpoint = 20000
)

// writerDriver is go-sqlite3 with the writer's connection settings that
// have no DSN parameter; set in a ConnectHook so a reopened connection
// gets them too.
const writerDriver = "sqlite3_livechat_writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", writerAutocheckpoint), nil)
			return err
		},
	})
}

// checkpointLoop runs passive checkpoints until Close.
func (db *DB) checkpointLoop(every time.Duration) {
	defer close(db.checkpointsDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stopCheckpoints:
			return
		case <-t.C:
			if err := db.checkpoint(context.Background()); err != nil {
				// Not fatal: the writer's own checkpoint is the safety net.
				continue
			}
		}
	}
}

// checkpoint runs one passive checkpoint and counts it.
func (db *DB) checkpoint(ctx context.Context) error {
	var busy, logFrames, done int
	if err := db.checkpointer.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
		return err
	}
	db.checkpoints.Add(1)
	return nil
}

// Close closes the statements and the pools. The WAL is checkpointed by SQLite when the last
// connection closes.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.insertMessage, db.messageByCID, db.touchRoom, db.insertFile,
		db.pageMessages, db.messageInRm, db.roomByName} {
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

// migrate runs the steps the file has not had yet, each in its own
// BEGIN IMMEDIATE transaction together with its PRAGMA user_version, so a
// crash mid-way leaves the file at a whole version.
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
	for v := version; v < len(migrations); v++ {
		if err := db.migrateStep(ctx, conn, v); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
	}
	return nil
}

// notSQLite turns SQLite's "file is not a database" into errNotOurDB.
func notSQLite(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return errNotOurDB
	}
	return err
}

func (db *DB) migrateStep(ctx context.Context, conn *sql.Conn, from int) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Re-read inside the write lock: another process may have migrated.
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version != from {
		return nil
	}
	if _, err := tx.ExecContext(ctx, migrations[from]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, from+1)); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion reports PRAGMA user_version.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.reader.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// Ping checks that the database answers a query, for /healthz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one)
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
