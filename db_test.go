package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestMigrateFromEveryVersion builds a file at each earlier schema version
// (0 is an empty file) and checks that opening it runs the rest forward.
func TestMigrateFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	for from := 0; from < len(migrations); from++ {
		path := filepath.Join(t.TempDir(), "old.db")
		if from > 0 {
			raw, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			for v := 0; v < from; v++ {
				if _, err := raw.Exec(migrations[v]); err != nil {
					t.Fatalf("apply migration %d: %v", v+1, err)
				}
			}
			if _, err := raw.Exec("PRAGMA application_id = " + strconv.Itoa(applicationID) + "; PRAGMA user_version = " + strconv.Itoa(from)); err != nil {
				t.Fatal(err)
			}
			raw.Close()
		}
		db, err := OpenDB(ctx, path, "NORMAL")
		if err != nil {
			t.Fatalf("from version %d: %v", from, err)
		}
		if v, err := db.SchemaVersion(ctx); err != nil || v != len(migrations) {
			t.Errorf("from version %d: user_version=%d (%v), want %d", from, v, err, len(migrations))
		}
		for _, table := range []string{"users", "chatbots", "rooms", "messages", "files", "sessions", "goqite", "mail_failures", "vapid_keys", "push_subscriptions", "server_state", "invites"} {
			var n int
			if err := db.reader.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type='table' AND name=?", table).Scan(&n); err != nil || n != 1 {
				t.Errorf("from version %d: table %s missing (%v)", from, table, err)
			}
		}
		var mode string
		db.reader.QueryRow("PRAGMA journal_mode").Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal_mode=%q, want wal", mode)
		}
		var fk int
		db.reader.QueryRow("PRAGMA foreign_keys").Scan(&fk)
		if fk != 1 {
			t.Errorf("foreign_keys=%d on a reader connection, want 1", fk)
		}
		db.Close()
		// Opening again is a no-op.
		db, err = OpenDB(ctx, path, "NORMAL")
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		db.Close()
	}
}

// TestOpenRefusesForeignFiles: a file that is not SQLite, a SQLite file of
// another program, and a file from a newer livechat are all refused, and
// none of them is changed.
func TestOpenRefusesForeignFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	text := filepath.Join(dir, "notes.db")
	os.WriteFile(text, []byte("these are my notes, not a database\n"), 0o644)
	if _, err := OpenDB(ctx, text, "NORMAL"); !errors.Is(err, errNotOurDB) {
		t.Errorf("text file: err=%v, want errNotOurDB", err)
	}
	if b, _ := os.ReadFile(text); string(b) != "these are my notes, not a database\n" {
		t.Errorf("text file was changed: %q", b)
	}

	other := filepath.Join(dir, "other.db")
	raw, _ := sql.Open("sqlite3", other)
	if _, err := raw.Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := OpenDB(ctx, other, "NORMAL"); !errors.Is(err, errNotOurDB) {
		t.Errorf("other program's database: err=%v, want errNotOurDB", err)
	}

	newer := filepath.Join(dir, "newer.db")
	db, err := OpenDB(ctx, newer, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.writer.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenDB(ctx, newer, "NORMAL"); !errors.Is(err, errTooNewDB) {
		t.Errorf("newer database: err=%v, want errTooNewDB", err)
	}

	if _, err := OpenDB(ctx, dir, "NORMAL"); err == nil {
		t.Error("a directory opened as a database")
	}
	if _, err := OpenDB(ctx, filepath.Join(dir, "x.db"), "SOMETIMES"); err == nil {
		t.Error("bad synchronous mode accepted")
	}
}

func TestFormatTime(t *testing.T) {
	if got, want := formatTime(1700000000123), "2023-11-14T22:13:20.123Z"; got != want {
		t.Errorf("formatTime=%q, want %q", got, want)
	}
	if got, want := formatTime(1700000000000), "2023-11-14T22:13:20.000Z"; got != want {
		t.Errorf("formatTime=%q, want %q", got, want)
	}
}

// TestBackgroundCheckpoints: the writer's own automatic checkpoint is only
// a safety net, and the background checkpointer copies the WAL into the
// database file without the writer.
func TestBackgroundCheckpoints(t *testing.T) {
	ctx := context.Background()
	db, err := OpenDB(ctx, filepath.Join(t.TempDir(), "c.db"), "FULL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var auto int
	if err := db.writer.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != writerAutocheckpoint {
		t.Fatalf("writer wal_autocheckpoint=%d (%v), want %d", auto, err, writerAutocheckpoint)
	}
	// The connections that write cap the WAL a restart leaves behind, and
	// every connection zeroes what it deletes (issue 12, findings 5 and 6).
	for name, pool := range map[string]*sql.DB{"writer": db.writer, "checkpointer": db.checkpointer} {
		var limit int64
		if err := pool.QueryRow("PRAGMA journal_size_limit").Scan(&limit); err != nil || limit != walSizeLimit {
			t.Errorf("%s journal_size_limit=%d (%v), want %d", name, limit, err, walSizeLimit)
		}
	}
	for name, pool := range map[string]*sql.DB{"writer": db.writer, "reader": db.reader, "checkpointer": db.checkpointer} {
		var secure int
		if err := pool.QueryRow("PRAGMA secure_delete").Scan(&secure); err != nil || secure != 1 {
			t.Errorf("%s secure_delete=%d (%v), want 1", name, secure, err)
		}
	}
	for i := 0; i < 50; i++ {
		if _, err := db.CreateUser(ctx, "user"+strconv.Itoa(i), "hash", "", ""); err != nil {
			t.Fatal(err)
		}
	}
	// The background loop checkpoints after the writes, without the writer.
	after := db.checkpoints.Load()
	deadline := time.Now().Add(10 * time.Second)
	for db.checkpoints.Load() <= after {
		if time.Now().After(deadline) {
			t.Fatalf("no background checkpoint in 10 s (%d before the wait)", after)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Close stops the loop; afterwards it runs no more.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	stopped := db.checkpoints.Load()
	time.Sleep(3 * checkpointInterval)
	if n := db.checkpoints.Load(); n != stopped {
		t.Errorf("%d checkpoints after Close", n-stopped)
	}
	db.Close() // safe twice
}
