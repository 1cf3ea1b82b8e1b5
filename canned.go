package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Canned replies: a business's saved answers, inserted in the inbox
// composer by typing "/" and a shortcut (static/js/canned.js). Any agent
// of the business manages them. The table is in migrationInbox.

// Canned reply limits.
const (
	maxCanned        = 500
	maxCannedContent = 4000
)

var shortcutRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Canned is a canned reply on the wire.
type Canned struct {
	ID       int64  `json:"id"`
	Shortcut string `json:"shortcut"`
	Content  string `json:"content"`
}

// CannedReplies lists a business's canned replies by shortcut.
func (db *DB) CannedReplies(ctx context.Context, businessID int64) ([]Canned, error) {
	rows, err := db.reader.QueryContext(ctx, "SELECT id, shortcut, content FROM canned WHERE business_id = ? ORDER BY shortcut", businessID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Canned{}
	for rows.Next() {
		var c Canned
		if err := rows.Scan(&c.ID, &c.Shortcut, &c.Content); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateCanned stores a canned reply: errConflict for a shortcut in use,
// errTooMany past maxCanned.
func (db *DB) CreateCanned(ctx context.Context, businessID int64, c *Canned) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM canned WHERE business_id = ?", businessID).Scan(&n); err != nil {
			return err
		}
		if n >= maxCanned {
			return errTooMany
		}
		var taken bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM canned WHERE business_id = ? AND shortcut = ?)", businessID, c.Shortcut).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return errConflict
		}
		return tx.QueryRowContext(ctx, "INSERT INTO canned (business_id, shortcut, content, created) VALUES (?, ?, ?, ?) RETURNING id",
			businessID, c.Shortcut, c.Content, db.nowMillis()).Scan(&c.ID)
	})
}

// UpdateCanned changes a canned reply of the business: errNotFound for
// none, errConflict for a shortcut another one uses.
func (db *DB) UpdateCanned(ctx context.Context, businessID int64, c *Canned) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var taken bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM canned WHERE business_id = ? AND shortcut = ? AND id != ?)",
			businessID, c.Shortcut, c.ID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return errConflict
		}
		res, err := tx.ExecContext(ctx, "UPDATE canned SET shortcut = ?, content = ? WHERE id = ? AND business_id = ?", c.Shortcut, c.Content, c.ID, businessID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound
		}
		return nil
	})
}

// DeleteCanned deletes a canned reply of the business, or errNotFound.
func (db *DB) DeleteCanned(ctx context.Context, businessID, id int64) error {
	res, err := db.writer.ExecContext(ctx, "DELETE FROM canned WHERE id = ? AND business_id = ?", id, businessID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

var (
	errNoCanned      = errorf(http.StatusNotFound, "There is no such canned reply.")
	errShortcutTaken = &apiError{Status: http.StatusConflict, Detail: "That shortcut is in use already.",
		Fields: map[string]string{"shortcut": "Another canned reply uses this shortcut."}}
	errTooManyCanned = errorf(http.StatusConflict, "A business can keep at most %d canned replies; delete some first.", maxCanned)
)

// cannedRoutes adds the canned replies' routes to mux.
func (s *Server) cannedRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /chatbot/api/canned", s.requireUser(s.handleListCanned))
	mux.HandleFunc("POST /chatbot/api/canned", s.requireUser(s.handleCreateCanned))
	mux.HandleFunc("PUT /chatbot/api/canned/{id}", s.requireUser(s.handleUpdateCanned))
	mux.HandleFunc("DELETE /chatbot/api/canned/{id}", s.requireUser(s.handleDeleteCanned))
}

func (s *Server) handleListCanned(w http.ResponseWriter, r *http.Request, u *User) {
	list, err := s.db.CannedReplies(r.Context(), u.BusinessID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"canned": list})
}

// readCanned reads and checks a canned reply's shortcut and content.
func (s *Server) readCanned(w http.ResponseWriter, r *http.Request) (*Canned, error) {
	var body struct {
		Shortcut *string `json:"shortcut"`
		Content  *string `json:"content"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		return nil, err
	}
	bad := map[string]string{}
	c := &Canned{}
	if body.Shortcut != nil {
		c.Shortcut = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(*body.Shortcut), "/")))
	}
	if !shortcutRE.MatchString(c.Shortcut) {
		bad["shortcut"] = "Use 1 to 32 of a-z, 0-9, _ and -."
	}
	if body.Content != nil {
		c.Content = strings.TrimSpace(*body.Content)
	}
	if n := utf8.RuneCountInString(c.Content); n < 1 || n > maxCannedContent {
		bad["content"] = "Must be 1 to " + strconv.Itoa(maxCannedContent) + " characters."
	}
	if len(bad) > 0 {
		return nil, fieldErrors(bad)
	}
	return c, nil
}

func (s *Server) handleCreateCanned(w http.ResponseWriter, r *http.Request, u *User) {
	c, err := s.readCanned(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	switch err := s.db.CreateCanned(r.Context(), u.BusinessID, c); {
	case errors.Is(err, errConflict):
		s.writeError(w, r, errShortcutTaken)
	case errors.Is(err, errTooMany):
		s.writeError(w, r, errTooManyCanned)
	case err != nil:
		s.writeError(w, r, err)
	default:
		writeJSON(w, http.StatusCreated, c)
	}
}

// cannedID reads {id}, or errNoCanned.
func cannedID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errNoCanned
	}
	return id, nil
}

func (s *Server) handleUpdateCanned(w http.ResponseWriter, r *http.Request, u *User) {
	id, err := cannedID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.readCanned(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	c.ID = id
	switch err := s.db.UpdateCanned(r.Context(), u.BusinessID, c); {
	case errors.Is(err, errNotFound):
		s.writeError(w, r, errNoCanned)
	case errors.Is(err, errConflict):
		s.writeError(w, r, errShortcutTaken)
	case err != nil:
		s.writeError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) handleDeleteCanned(w http.ResponseWriter, r *http.Request, u *User) {
	id, err := cannedID(r)
	if err == nil {
		err = s.db.DeleteCanned(r.Context(), u.BusinessID, id)
	}
	if errors.Is(err, errNotFound) {
		err = errNoCanned
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
