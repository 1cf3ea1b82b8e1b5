package main

import (
	"context"
	"database/sql"
	"errors"
)

// User is an agent: a person who signs in. The business is its owner's
// row: BusinessID is the owner's id (an owner's own id) and Business the
// owner's username, the handle every URL, socket and Message.author uses,
// so every user_id column of the other tables means "the business".
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
	BusinessID   int64
	Role         string // roleOwner or roleAgent
	Business     string // the business's handle
	NotifyEmail  bool
}

// Roles of agents.
const (
	roleOwner = "owner"
	roleAgent = "agent"
)

// IsOwner reports whether u may do the owner-only things.
func (u *User) IsOwner() bool { return u.Role == roleOwner }

// userSelect reads users u with their business's row b (for the handle).
const userSelect = `SELECT u.id, u.username, u.email, u.name, u.password_hash, u.session_epoch, u.created,
	u.business_id, u.role, u.notify_email, b.username FROM users u JOIN users b ON b.id = u.business_id `

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &u.SessionEpoch, &u.Created,
		&u.BusinessID, &u.Role, &u.NotifyEmail, &u.Business)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser inserts a business (its owner's row, business_id = its own
// id) and its default chatbot in one transaction. It returns errConflict
// when the username is taken.
func (db *DB) CreateUser(ctx context.Context, username, passwordHash, email, name string) (*User, error) {
	return db.createBusiness(ctx, username, passwordHash, email, name, false, nil)
}

// createBusiness is CreateUser; with onlyFirst it returns errSignupClosed
// when the server has a business already (checked inside the write
// transaction, so two racing signups cannot both be first). then, if not
// nil, runs in the same transaction after the account exists: signup
// stores the account's first session there, so that there is never an
// account whose sign-up failed.
func (db *DB) createBusiness(ctx context.Context, username, passwordHash, email, name string, onlyFirst bool, then func(*sql.Tx, *User) error) (*User, error) {
	u := &User{Username: username, Email: email, Name: name, PasswordHash: passwordHash, Created: db.nowMillis(),
		Role: roleOwner, Business: username, NotifyEmail: true}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if onlyFirst {
			var exists bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists); err != nil {
				return err
			}
			if exists {
				return errSignupClosed
			}
		}
		res, err := tx.ExecContext(ctx,
			"INSERT INTO users (username, password_hash, email, name, created, role) VALUES (?, ?, ?, ?, ?, 'owner')",
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
		u.BusinessID = u.ID
		if _, err := tx.ExecContext(ctx, "UPDATE users SET business_id = id WHERE id = ?", u.ID); err != nil {
			return err
		}
		if err := insertDefaultChatbot(ctx, tx, u.ID, signupChatbotName(username, name), u.Created); err != nil {
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

// UserByName finds an agent (of any business) by its (lowercase) username.
func (db *DB) UserByName(ctx context.Context, username string) (*User, error) {
	return scanUser(db.reader.QueryRowContext(ctx, userSelect+"WHERE u.username = ?", username))
}

// UserByID finds an agent by id.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(db.reader.QueryRowContext(ctx, userSelect+"WHERE u.id = ?", id))
}

// BusinessByHandle finds a business by its handle: its owner's row. An
// agent's username is not a handle (errNotFound).
func (db *DB) BusinessByHandle(ctx context.Context, handle string) (*User, error) {
	return scanUser(db.reader.QueryRowContext(ctx, userSelect+"WHERE u.username = ? AND u.business_id = u.id", handle))
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
