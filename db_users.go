package main

import (
	"context"
	"database/sql"
	"errors"
)

// User is an admin account: the business.
type User struct {
	ID           int64
	Username     string
	Email        string
	Name         string
	PasswordHash string
	// SessionEpoch is bumped when the password changes; a session that
	// carries an older epoch is signed out.
	SessionEpoch int64
	Created      int64
}

const userColumns = "id, username, email, name, password_hash, session_epoch, created"

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &u.SessionEpoch, &u.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser inserts an account and its default chatbot in one transaction.
// It returns errConflict when the username is taken.
func (db *DB) CreateUser(ctx context.Context, username, passwordHash, email, name string) (*User, error) {
	return db.CreateUserWith(ctx, username, passwordHash, email, name, nil)
}

// CreateUserWith is CreateUser, running also then (if not nil) in the same
// transaction after the account exists: signup stores the account's first
// session there, so that there is never an account whose sign-up failed.
func (db *DB) CreateUserWith(ctx context.Context, username, passwordHash, email, name string, then func(*sql.Tx, *User) error) (*User, error) {
	u := &User{Username: username, Email: email, Name: name, PasswordHash: passwordHash, Created: db.nowMillis()}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"INSERT INTO users (username, password_hash, email, name, created) VALUES (?, ?, ?, ?, ?)",
			username, passwordHash, email, name, u.Created)
		if isUniqueViolation(err) {
			return errConflict
		}
		if err != nil {
			return err
		}
		if u.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if err := insertDefaultChatbot(ctx, tx, u.ID, username, u.Created); err != nil {
			return err
		}
		if then != nil {
			return then(tx, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UserByName finds an account by its (lowercase) username.
func (db *DB) UserByName(ctx context.Context, username string) (*User, error) {
	return scanUser(db.reader.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE username = ?", username))
}

// UserByID finds an account by id.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(db.reader.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

// SetPassword stores a new hash and bumps the session epoch, which ends
// every session that still carries the old one. It returns the new epoch.
func (db *DB) SetPassword(ctx context.Context, userID int64, passwordHash string) (int64, error) {
	var epoch int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx,
			"UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ? RETURNING session_epoch",
			passwordHash, userID).Scan(&epoch)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNotFound
	}
	return epoch, err
}
