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
