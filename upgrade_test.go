package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// withMigrations runs the test with extra steps appended to migrations.
func withMigrations(t *testing.T, extra ...string) {
	t.Helper()
	orig := migrations
	migrations = append(migrations[:len(orig):len(orig)], extra...)
	t.Cleanup(func() { migrations = orig })
}

// dbState is what a file holds, for comparing before and after: its
// version, schema and the users table.
func dbState(t *testing.T, path string) string {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var b strings.Builder
	var v int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	b.WriteString("version " + strconv.Itoa(v) + "\n")
	for _, q := range []string{"SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY name", "SELECT username || ' ' || name || ' ' || password_hash FROM users ORDER BY id"} {
		rows, err := raw.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			b.WriteString(s + "\n")
		}
		rows.Close()
	}
	return b.String()
}

// makeCurrentDB writes a file at today's latest version with an account.
func makeCurrentDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "livechat.db")
	db, err := OpenDB(context.Background(), path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	if db.Upgraded != nil {
		t.Errorf("a new file reports an upgrade: %+v", db.Upgraded)
	}
	if _, err := db.CreateUser(context.Background(), "acme", "hash", "owner@acme.example", "Acme"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path
}

// TestFailedMigrationLeavesFileAsItWas appends two steps, the second of
// which fails after the first has changed data and schema: the open fails
// with a clear error, the file is exactly as before (version, schema,
// data), and the copy written first holds it too.
func TestFailedMigrationLeavesFileAsItWas(t *testing.T) {
	path := makeCurrentDB(t)
	before := dbState(t, path)
	v := len(migrations)
	withMigrations(t,
		"CREATE TABLE upgrade_extra (x); UPDATE users SET name = 'changed by step'",
		"ALTER TABLE users ADD COLUMN nickname TEXT; INSERT INTO no_such_table VALUES (1)")
	_, err := OpenDB(context.Background(), path, "NORMAL")
	if err == nil {
		t.Fatal("OpenDB succeeded with a failing migration")
	}
	copyPath := path + ".before-v" + itoa(v+2)
	for _, want := range []string{"migrate to version " + itoa(v+2), "no_such_table", "unchanged, at version " + itoa(v), copyPath} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after := dbState(t, path); after != before {
		t.Errorf("the file changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if c := dbState(t, copyPath); c != before {
		t.Errorf("the copy differs from the file before:\n%s", c)
	}
	// The old binary (today's migrations) still opens it, without a copy.
	migrations = migrations[:v]
	db, err := OpenDB(context.Background(), path, "NORMAL")
	if err != nil {
		t.Fatalf("the previous version cannot open the file: %v", err)
	}
	if db.Upgraded != nil {
		t.Errorf("no migration, yet Upgraded=%+v", db.Upgraded)
	}
	db.Close()
}

// TestUpgradeWritesCopyFirst: a successful upgrade of an existing file
// keeps <db>.before-v<N> holding the old version; opening again migrates
// nothing and copies nothing; a second upgrade does not overwrite an
// earlier copy of the same name.
func TestUpgradeWritesCopyFirst(t *testing.T) {
	path := makeCurrentDB(t)
	before := dbState(t, path)
	v := len(migrations)
	withMigrations(t, "CREATE TABLE upgrade_extra (x)")
	db, err := OpenDB(context.Background(), path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	copyPath := path + ".before-v" + itoa(v+1)
	if up := db.Upgraded; up == nil || up.From != v || up.To != v+1 || up.Copy != copyPath {
		t.Fatalf("Upgraded = %+v, want from %d to %d in %s", up, v, v+1, copyPath)
	}
	if got, _ := db.SchemaVersion(context.Background()); got != v+1 {
		t.Errorf("version after upgrade %d", got)
	}
	db.Close()
	if c := dbState(t, copyPath); c != before {
		t.Errorf("copy is not the file as it was:\n%s", c)
	}
	checkCopy(t, copyPath, 0)
	db, err = OpenDB(context.Background(), path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	if db.Upgraded != nil {
		t.Errorf("second open upgraded again: %+v", db.Upgraded)
	}
	db.Close()

	// A file at v again (say, restored from the copy) upgraded again:
	// the first copy stays, the new one gets the next free name.
	path2 := filepath.Join(filepath.Dir(copyPath), "restored.db")
	migrations = migrations[:v]
	if err := backupFile(context.Background(), copyPath, path2); err != nil {
		t.Fatal(err)
	}
	migrations = append(migrations, "CREATE TABLE upgrade_extra (x)")
	if err := backupFile(context.Background(), path2, path2+".before-v"+itoa(v+1)); err != nil {
		t.Fatal(err)
	}
	db, err = OpenDB(context.Background(), path2, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	if up := db.Upgraded; up == nil || up.Copy != path2+".before-v"+itoa(v+1)+".2" {
		t.Errorf("with a copy already there: %+v", up)
	}
	db.Close()
}

func itoa(n int) string { return strconv.Itoa(n) }
