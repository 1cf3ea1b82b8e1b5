package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
)

// storedFile is an uploaded chat file.
type storedFile struct {
	Token string
	Name  string
	Mime  string
	Data  []byte
}

// newFileToken draws the 128 random bits that make a file's URL
// unguessable.
func newFileToken() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// fileURL is the path a file is served at.
func fileURL(token, name string) string {
	return "/files/" + token + "/" + url.PathEscape(name)
}

// FileByToken loads a file, or errNotFound.
func (db *DB) FileByToken(ctx context.Context, token string) (*storedFile, error) {
	f := storedFile{Token: token}
	err := db.reader.QueryRowContext(ctx, "SELECT name, mime, data FROM files WHERE token = ?", token).Scan(&f.Name, &f.Mime, &f.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// storedBytesSQL sums an account's stored file bytes (files by room, the
// account's rooms by user).
const storedBytesSQL = "SELECT coalesce(sum(f.size), 0) FROM rooms r JOIN files f ON f.room_id = r.id WHERE r.user_id = ?"

// StoredBytes is how many file bytes an account stores.
func (db *DB) StoredBytes(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := db.reader.QueryRowContext(ctx, storedBytesSQL, userID).Scan(&n)
	return n, err
}
