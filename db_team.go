package main

import (
	"context"
	"database/sql"
	"errors"
)

// The team: agents of a business and the invitations that make them.
//
// A business is its owner's users row (business_id = id, role 'owner');
// an agent is a users row with business_id = the owner's id and role
// 'agent'. Messages written on an agent's socket keep author = the handle
// and record the agent in agent_id (no foreign key: a removed agent's
// messages stay, with the name they had) and agent.

// migrationTeam is schema version 2: every existing account becomes the
// owner of its own business.
const migrationTeam = `
ALTER TABLE users ADD COLUMN business_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
UPDATE users SET business_id = id;
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner';
ALTER TABLE users ADD COLUMN notify_email INTEGER NOT NULL DEFAULT 1;
CREATE INDEX users_by_business ON users (business_id);

ALTER TABLE messages ADD COLUMN agent_id INTEGER;
ALTER TABLE messages ADD COLUMN agent TEXT NOT NULL DEFAULT '';

-- Pending invitations; a used one is deleted in the join's transaction.
CREATE TABLE invites (
    token       TEXT    PRIMARY KEY,               -- 128 random bits, base64url
    business_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email       TEXT    NOT NULL DEFAULT '',
    name        TEXT    NOT NULL DEFAULT '',
    created     INTEGER NOT NULL,
    expires     INTEGER NOT NULL
);
CREATE INDEX invites_by_business ON invites (business_id, expires);
`

// Errors of the team's db methods.
var (
	errSignupClosed = errors.New("signup closed")
	errTooMany      = errors.New("too many")
)

// HasUsers reports whether the server has any business (and so any user).
func (db *DB) HasUsers(ctx context.Context) (bool, error) {
	var exists bool
	err := db.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(&exists)
	return exists, err
}

// Invite is a pending invitation.
type Invite struct {
	Token      string
	BusinessID int64
	Email      string
	Name       string
	Created    int64
	Expires    int64
}

const inviteColumns = "token, business_id, email, name, created, expires"

func scanInvite(row interface{ Scan(...any) error }) (*Invite, error) {
	var in Invite
	err := row.Scan(&in.Token, &in.BusinessID, &in.Email, &in.Name, &in.Created, &in.Expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &in, nil
}

// CreateInvite stores an invitation unless the business has max pending
// ones already (errTooMany). Expired invitations of the business are
// dropped on the way. then, if given, runs in the same transaction (the
// invitation's email is queued there).
func (db *DB) CreateInvite(ctx context.Context, in *Invite, max int, then ...func(*sql.Tx) error) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM invites WHERE business_id = ? AND expires <= ?", in.BusinessID, in.Created); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM invites WHERE business_id = ?", in.BusinessID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return errTooMany
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO invites ("+inviteColumns+") VALUES (?, ?, ?, ?, ?, ?)",
			in.Token, in.BusinessID, in.Email, in.Name, in.Created, in.Expires); err != nil {
			return err
		}
		for _, fn := range then {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// PendingInvites lists a business's unexpired invitations, newest first.
func (db *DB) PendingInvites(ctx context.Context, businessID int64) ([]*Invite, error) {
	rows, err := db.reader.QueryContext(ctx, "SELECT "+inviteColumns+" FROM invites WHERE business_id = ? AND expires > ? ORDER BY created DESC, token",
		businessID, db.nowMillis())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []*Invite{}
	for rows.Next() {
		in, err := scanInvite(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, in)
	}
	return list, rows.Err()
}

// InviteByToken finds an unexpired invitation, or errNotFound.
func (db *DB) InviteByToken(ctx context.Context, token string) (*Invite, error) {
	return scanInvite(db.reader.QueryRowContext(ctx, "SELECT "+inviteColumns+" FROM invites WHERE token = ? AND expires > ?", token, db.nowMillis()))
}

// DeleteInvite revokes a business's invitation, or errNotFound.
func (db *DB) DeleteInvite(ctx context.Context, businessID int64, token string) error {
	res, err := db.writer.ExecContext(ctx, "DELETE FROM invites WHERE business_id = ? AND token = ?", businessID, token)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

// JoinWithInvite creates an agent of the invitation's business and uses
// the invitation up, in one transaction: errNotFound for an unknown,
// used or expired token, errConflict for a taken username (the invitation
// then stays).
func (db *DB) JoinWithInvite(ctx context.Context, token, username, passwordHash, name string) (*User, error) {
	now := db.nowMillis()
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		in, err := scanInvite(tx.QueryRowContext(ctx, "SELECT "+inviteColumns+" FROM invites WHERE token = ? AND expires > ?", token, now))
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx,
			"INSERT INTO users (username, password_hash, email, name, created, business_id, role) VALUES (?, ?, ?, ?, ?, ?, 'agent') RETURNING id",
			username, passwordHash, in.Email, name, now, in.BusinessID).Scan(&id)
		if isUniqueViolation(err) {
			return errConflict
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM invites WHERE token = ?", token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.writerUserByID(ctx, id)
}

// writerUserByID reads a user on the writer, which has seen its own
// latest commit for certain.
func (db *DB) writerUserByID(ctx context.Context, id int64) (*User, error) {
	return scanUser(db.writer.QueryRowContext(ctx, userSelect+"WHERE u.id = ?", id))
}

// Agents lists a business's agents, the owner first, then by joining.
func (db *DB) Agents(ctx context.Context, businessID int64) ([]*User, error) {
	rows, err := db.reader.QueryContext(ctx, userSelect+"WHERE u.business_id = ? ORDER BY u.role <> 'owner', u.id", businessID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, u)
	}
	return list, rows.Err()
}

// DeleteAgent removes an agent (never an owner) of a business, or
// errNotFound, and returns the rooms that were assigned to the agent (ON
// DELETE SET NULL leaves them unassigned) for the inboxes to be told.
// With the row gone, every session of the agent counts as signed out
// (currentUser) and the username cannot sign in again; the agent's
// messages keep their agent name.
func (db *DB) DeleteAgent(ctx context.Context, businessID, agentID int64) ([]int64, error) {
	var rooms []int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		rooms, err = queryIDs(ctx, tx, "SELECT id FROM rooms WHERE assignee_id = ? AND user_id = ?", agentID, businessID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ? AND business_id = ? AND role = 'agent'", agentID, businessID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rooms, nil
}

// UpdateProfile changes an agent's display name, email and mail setting
// (nil: unchanged) and returns the agent as stored.
func (db *DB) UpdateProfile(ctx context.Context, id int64, name, email *string, notify *bool) (*User, error) {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET name = coalesce(?, name), email = coalesce(?, email),
			notify_email = coalesce(?, notify_email) WHERE id = ?`, name, email, notify, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.writerUserByID(ctx, id)
}
