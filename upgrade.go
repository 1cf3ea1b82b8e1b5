package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// Safe upgrades. A start that must migrate an existing file (schema
// version above 0 and below this binary's) first writes a consistent copy
// of it to <db>.before-v<N>, N being the version the binary migrates to,
// so the operator can go back to the previous binary with the file it
// knew. All pending steps then run in one transaction together with the
// new user_version: if any step fails, the whole upgrade rolls back and
// the file is as it was.

// Upgrade says what opening the database migrated.
type Upgrade struct {
	From, To int
	// Copy is the file holding the database as it was before.
	Copy string
}

// upgrade takes the file from version to len(migrations).
func (db *DB) upgrade(ctx context.Context, conn *sql.Conn, version int) error {
	to := len(migrations)
	if version == to {
		return nil
	}
	var up *Upgrade
	if version > 0 {
		dest, err := freeCopyName(db.path + ".before-v" + strconv.Itoa(to))
		if err != nil {
			return err
		}
		if err := backupConn(ctx, conn, dest); err != nil {
			return fmt.Errorf("copy the database before migrating it (nothing was changed): %w", err)
		}
		up = &Upgrade{From: version, To: to, Copy: dest}
	}
	if err := migrateAll(ctx, conn, version); err != nil {
		if up != nil {
			return fmt.Errorf("%w; the database is unchanged, at version %d (a copy is in %s)", err, version, up.Copy)
		}
		return err
	}
	db.Upgraded = up
	return nil
}

// freeCopyName is name, or name.2, name.3, … when an earlier attempt left
// a copy there: a copy is never overwritten.
func freeCopyName(name string) (string, error) {
	for i := 1; i < 1000; i++ {
		n := name
		if i > 1 {
			n = name + "." + strconv.Itoa(i)
		}
		_, err := os.Lstat(n)
		if errors.Is(err, fs.ErrNotExist) {
			return n, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("too many copies named %s.*", name)
}

// migrateAll runs steps from..len(migrations)-1 and the new user_version in
// one BEGIN IMMEDIATE transaction.
func migrateAll(ctx context.Context, conn *sql.Conn, from int) error {
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
		if version == len(migrations) {
			return nil
		}
		return fmt.Errorf("schema version moved from %d to %d while opening", from, version)
	}
	for v := from; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", applicationID, len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}
