package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seedRoom creates an account and one room in it, returning the room id.
func seedRoom(t testing.TB, db *DB, username string) int64 {
	t.Helper()
	ctx := context.Background()
	u, err := db.CreateUser(ctx, username, mustHashPasswordString(t, "correct horse"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var roomID int64
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		r, _, err := ensureRoomTx(ctx, tx, u.ID, "visitor-1", "", db.nowMillis())
		if err != nil {
			return err
		}
		roomID = r.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return roomID
}

func mustHashPasswordString(t testing.TB, pw string) string {
	h, err := hashPassword(pw, 4)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// insertMessage commits one message straight through the writer pool.
func insertMessage(db *DB, roomID int64, content string) error {
	return db.inTx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO messages (room_id, author, content, created) VALUES (?, 'visitor-1', ?, ?)", roomID, content, db.nowMillis())
		return err
	})
}

// checkCopy opens a backup and checks it is a whole livechat database
// holding the messages m1..m<upTo>.
func checkCopy(t *testing.T, path string, upTo int64) int64 {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("%s: integrity_check = %q, %v", path, check, err)
	}
	var appID int
	raw.QueryRow("PRAGMA application_id").Scan(&appID)
	if appID != applicationID {
		t.Errorf("%s: application_id %#x, want livechat's", path, appID)
	}
	rows, err := raw.Query("SELECT content FROM messages")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		have[c] = true
	}
	rows.Close()
	for i := int64(1); i <= upTo; i++ {
		if !have[fmt.Sprintf("m%d", i)] {
			t.Fatalf("%s: message m%d, committed before the backup began, is missing (copy has %d)", path, i, len(have))
		}
	}
	return int64(len(have))
}

// TestBackupWhileWriting writes messages without pause while "livechat
// backup" (a separate connection, as the command in another process) and
// the server's own Backup copy the file; each copy opens, passes
// integrity_check and holds every message committed before it began. A
// second backup to the same name is refused and leaves the file alone.
func TestBackupWhileWriting(t *testing.T) {
	ts := newTestServer(t)
	roomID := seedRoom(t, ts.DB, "acme")
	// Some bulk (10 MB of file blobs) so a copy takes a while.
	blob := make([]byte, 100<<10)
	err := ts.DB.inTx(context.Background(), func(tx *sql.Tx) error {
		for i := range 100 {
			rand.Read(blob)
			if _, err := tx.Exec("INSERT INTO files (room_id, token, name, mime, size, data, created) VALUES (?, ?, 'f.bin', 'application/octet-stream', ?, ?, 0)",
				roomID, fmt.Sprintf("tok%d", i), len(blob), blob); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var committed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := insertMessage(ts.DB, roomID, fmt.Sprintf("m%d", i)); err != nil {
				t.Errorf("insert m%d: %v", i, err)
				return
			}
			committed.Store(i)
		}
	}()
	waitFor(t, "messages committed", func() bool { return committed.Load() >= 200 })

	dir := t.TempDir()
	cliCopy := filepath.Join(dir, "cli.db")
	before := committed.Load()
	var out bytes.Buffer
	err = run(context.Background(), []string{"backup", "--db", ts.Path, cliCopy}, func(string) string { return "" }, &out, io.Discard, nil)
	if err != nil {
		t.Fatalf("livechat backup: %v", err)
	}
	during := committed.Load() - before
	if !strings.Contains(out.String(), cliCopy) {
		t.Errorf("backup output %q does not name the copy", out.String())
	}

	srvCopy := filepath.Join(dir, "server.db")
	before2 := committed.Load()
	if err := ts.DB.Backup(context.Background(), srvCopy); err != nil {
		t.Fatalf("DB.Backup: %v", err)
	}
	waitFor(t, "more messages after the backups", func() bool { return committed.Load() > before2+50 })
	close(stop)
	wg.Wait()
	t.Logf("%d messages committed while the command's backup ran", during)

	n1 := checkCopy(t, cliCopy, before)
	n2 := checkCopy(t, srvCopy, before2)
	if total := committed.Load(); n1 >= total || n2 >= total {
		t.Errorf("copies hold %d and %d messages of %d: they should be snapshots, not the final file", n1, n2, total)
	}
	// The copy is a self-contained file (no -wal beside it) and a database
	// the server opens.
	if _, err := os.Stat(cliCopy + "-wal"); err == nil {
		t.Error("the copy has a -wal file beside it")
	}
	restored, err := OpenDB(context.Background(), cliCopy, "NORMAL")
	if err != nil {
		t.Fatalf("the server does not open the copy: %v", err)
	}
	if u, err := restored.UserByName(context.Background(), "acme"); err != nil || u.Username != "acme" {
		t.Errorf("account in copy: %v %v", u, err)
	}
	restored.Close()

	// Never overwrites: the command and the method both refuse.
	old, _ := os.ReadFile(srvCopy)
	err = run(context.Background(), []string{"backup", "--db", ts.Path, srvCopy}, func(string) string { return "" }, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup over an existing file: err=%v", err)
	}
	if err := ts.DB.Backup(context.Background(), srvCopy); err == nil {
		t.Error("DB.Backup overwrote a file")
	}
	if now, _ := os.ReadFile(srvCopy); !bytes.Equal(old, now) {
		t.Error("the existing file changed")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "partial") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestBackupCommandErrors: a missing database, another program's file and
// a wrong command line are clear errors that create nothing.
func TestBackupCommandErrors(t *testing.T) {
	dir := t.TempDir()
	env := func(string) string { return "" }
	dest := filepath.Join(dir, "copy.db")
	err := run(context.Background(), []string{"backup", "--db", filepath.Join(dir, "none.db"), dest}, env, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("backup created the missing database")
	}
	other := filepath.Join(dir, "other.db")
	raw, _ := sql.Open("sqlite3", other)
	raw.Exec("CREATE TABLE t (x)")
	raw.Close()
	err = run(context.Background(), []string{"backup", "--db", other, dest}, env, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "not a livechat database") {
		t.Errorf("foreign database: %v", err)
	}
	if err := run(context.Background(), []string{"backup"}, env, io.Discard, io.Discard, nil); err == nil {
		t.Error("backup without a destination accepted")
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("a failed backup left a file")
	}
}

// TestDailyBackups: a copy when the newest is a day old, none sooner, and
// only the newest --backup-keep of our own files are kept.
func TestDailyBackups(t *testing.T) {
	ts := newTestServer(t)
	roomID := seedRoom(t, ts.DB, "acme")
	if err := insertMessage(ts.DB, roomID, "m1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC)
	for d := 1; d <= 8; d++ {
		name := backupPrefix + t0.Add(-time.Duration(d)*24*time.Hour).Format(backupTimeLayout) + backupSuffix
		os.WriteFile(filepath.Join(dir, name), []byte("old"), 0o600)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	os.WriteFile(filepath.Join(dir, "livechat-handmade.db"), []byte("mine"), 0o600)

	now := t0
	b := &dailyBackups{db: ts.DB, dir: dir, keep: 7, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	made, err := b.runOnce(context.Background())
	if err != nil || made == "" {
		t.Fatalf("runOnce at t0: made=%q err=%v", made, err)
	}
	checkCopy(t, made, 1)
	names, _, _ := b.backups()
	if len(names) != 7 || filepath.Join(dir, names[0]) != made {
		t.Errorf("after the first copy: %v", names)
	}
	// The two oldest went; the newest six old ones stayed.
	for d := 1; d <= 8; d++ {
		name := backupPrefix + t0.Add(-time.Duration(d)*24*time.Hour).Format(backupTimeLayout) + backupSuffix
		_, err := os.Stat(filepath.Join(dir, name))
		if kept := err == nil; kept != (d <= 6) {
			t.Errorf("backup %d days old: kept=%v", d, kept)
		}
	}
	for _, mine := range []string{"notes.txt", "livechat-handmade.db"} {
		if _, err := os.Stat(filepath.Join(dir, mine)); err != nil {
			t.Errorf("%s, not a daily backup, was touched: %v", mine, err)
		}
	}

	now = t0.Add(2 * time.Hour)
	if made, err := b.runOnce(context.Background()); err != nil || made != "" {
		t.Errorf("two hours later: made=%q err=%v, want nothing", made, err)
	}
	now = t0.Add(24 * time.Hour)
	if made, err := b.runOnce(context.Background()); err != nil || made == "" {
		t.Errorf("a day later: made=%q err=%v, want a copy", made, err)
	}
	names, _, _ = b.backups()
	if len(names) != 7 || !sort.SliceIsSorted(names, func(i, j int) bool { return names[i] > names[j] }) {
		t.Errorf("after the second copy: %v", names)
	}
}

// TestBackupDirFlag: the server started with --backup-dir writes its
// first copy at once.
func TestBackupDirFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	dir := filepath.Join(t.TempDir(), "backups")
	runMain(t, "--db", path, "--backup-dir", dir, "--backup-keep", "3")
	var entries []os.DirEntry
	waitFor(t, "the first daily copy", func() bool {
		entries, _ = os.ReadDir(dir)
		return len(entries) == 1 && strings.HasPrefix(entries[0].Name(), backupPrefix) && strings.HasSuffix(entries[0].Name(), backupSuffix)
	})
	checkCopy(t, filepath.Join(dir, entries[0].Name()), 0)
	if _, err := parseFlags([]string{"--backup-keep", "0"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("--backup-keep 0 accepted")
	}
}
