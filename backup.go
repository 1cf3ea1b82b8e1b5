package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Backups. A copy is made with SQLite's online backup API in one step, so
// it is one read transaction on the source: a consistent snapshot of the
// last commit before it began, while the server keeps writing (WAL lets
// the one writer go on beside a reader). The copy is written to a
// temporary file beside the destination, synced, and only then linked
// into place under its name, which fails if that name exists: a backup
// never overwrites a file and never leaves a half-written one under the
// name the operator asked for.

// errBackupExists is returned when the destination already exists.
var errBackupExists = errors.New("already exists; a backup never overwrites a file")

// backupConn copies the database open on src into the new file dest.
func backupConn(ctx context.Context, src *sql.Conn, dest string) (err error) {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup %s: %w", dest, errBackupExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		os.Remove(tmp)
		os.Remove(tmp + "-journal")
	}()

	dst, err := sql.Open("sqlite3", "file:"+url.PathEscape(tmp)+"?_journal_mode=DELETE")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer dst.Close()
	dconn, err := dst.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = dconn.Raw(func(d any) error {
		return src.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			// -1: every page in one step, under one read lock on the source.
			done, err := b.Step(-1)
			if ferr := b.Finish(); err == nil {
				err = ferr
			}
			if err == nil && !done {
				err = errors.New("backup step did not finish")
			}
			return err
		})
	})
	if err != nil {
		dconn.Close()
		return fmt.Errorf("backup: %w", err)
	}
	// The copy carries the source's WAL flag; a backup is one self-contained
	// file, so make it a rollback-journal database.
	if _, err := dconn.ExecContext(ctx, "PRAGMA journal_mode = DELETE"); err != nil {
		dconn.Close()
		return fmt.Errorf("backup: %w", err)
	}
	dconn.Close()
	if err := dst.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Link, not rename: link fails when dest appeared meanwhile.
	if err := os.Link(tmp, dest); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("backup %s: %w", dest, errBackupExists)
		}
		return fmt.Errorf("backup: %w", err)
	}
	return syncFile(dir)
}

// syncFile fsyncs a file or directory.
func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Backup writes a consistent copy of the database to the new file dest
// while the server keeps serving.
func (db *DB) Backup(ctx context.Context, dest string) error {
	conn, err := db.reader.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer conn.Close()
	return backupConn(ctx, conn, dest)
}

// backupFile is "livechat backup": it copies the livechat database at
// path (which a running server may be using) to dest.
func backupFile(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("backup: database %w", err)
	}
	src, err := sql.Open("sqlite3", dsn(path, true, "FULL"))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	conn, err := src.Conn(ctx)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer conn.Close()
	var appID int
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("backup %s: %w", path, notSQLite(err))
	}
	if appID != applicationID {
		return fmt.Errorf("backup %s: %w", path, errNotOurDB)
	}
	return backupConn(ctx, conn, dest)
}

// Daily backups (--backup-dir, --backup-keep): a copy named
// livechat-YYYYMMDDTHHMMSSZ.db when the newest one is a day old (or there
// is none), then all but the newest keep such files are removed. Other
// files in the directory are never touched.
const (
	backupPrefix     = "livechat-"
	backupSuffix     = ".db"
	backupTimeLayout = "20060102T150405Z"
	backupEvery      = 24 * time.Hour
	// backupCheck is how often the loop looks whether a copy is due; a
	// server restarted daily still gets its copy.
	backupCheck = time.Hour
)

// dailyBackups takes the copies for one server.
type dailyBackups struct {
	db   *DB
	dir  string
	keep int
	log  *slog.Logger
	now  func() time.Time
}

// backups lists the directory's backups, newest first.
func (b *dailyBackups) backups() ([]string, []time.Time, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, nil, err
	}
	type bk struct {
		name string
		t    time.Time
	}
	var list []bk
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, backupPrefix) || !strings.HasSuffix(n, backupSuffix) {
			continue
		}
		t, err := time.Parse(backupTimeLayout, strings.TrimSuffix(strings.TrimPrefix(n, backupPrefix), backupSuffix))
		if err != nil {
			continue
		}
		list = append(list, bk{n, t})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].t.After(list[j].t) })
	names := make([]string, len(list))
	times := make([]time.Time, len(list))
	for i, x := range list {
		names[i], times[i] = x.name, x.t
	}
	return names, times, nil
}

// runOnce takes a copy if one is due and prunes old ones. It returns the
// path of the copy it made, or "".
func (b *dailyBackups) runOnce(ctx context.Context) (string, error) {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return "", fmt.Errorf("backup dir: %w", err)
	}
	names, times, err := b.backups()
	if err != nil {
		return "", fmt.Errorf("backup dir: %w", err)
	}
	now := b.now().UTC()
	made := ""
	if len(times) == 0 || now.Sub(times[0]) >= backupEvery-backupCheck/2 {
		made = filepath.Join(b.dir, backupPrefix+now.Format(backupTimeLayout)+backupSuffix)
		start := time.Now()
		if err := b.db.Backup(ctx, made); err != nil {
			return "", err
		}
		b.log.Info("daily backup written", "file", made, "took", time.Since(start).Round(time.Millisecond))
		if names, _, err = b.backups(); err != nil {
			return made, fmt.Errorf("backup dir: %w", err)
		}
	}
	for _, old := range names[min(len(names), b.keep):] {
		if err := os.Remove(filepath.Join(b.dir, old)); err != nil {
			return made, fmt.Errorf("remove old backup: %w", err)
		}
		b.log.Info("old backup removed", "file", filepath.Join(b.dir, old))
	}
	return made, nil
}

// startDailyBackups runs runOnce now and every backupCheck until the
// returned stop is called. Failures are logged; the server goes on.
func startDailyBackups(db *DB, dir string, keep int, logger *slog.Logger) (stop func()) {
	b := &dailyBackups{db: db, dir: dir, keep: keep, log: logger, now: time.Now}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(backupCheck)
		defer t.Stop()
		for {
			if _, err := b.runOnce(ctx); err != nil && ctx.Err() == nil {
				logger.Error("daily backup failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
