package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The team's HTTP side: the signup policy, invitations, joining, the
// agent list, removing agents, and an agent's own profile.

// Signup policies (Config.Signup, --signup).
const (
	signupFirst  = "first"
	signupOpen   = "open"
	signupClosed = "closed"
)

// Team limits.
const (
	// maxPendingInvites is how many unexpired invitations a business may
	// have at once.
	maxPendingInvites = 50
	// inviteLifetime is how long an invitation link works.
	inviteLifetime = 7 * 24 * time.Hour
	// maxAgentName is the longest display name, in characters.
	maxAgentName = 64
)

var (
	errOwnerOnly = errorf(http.StatusForbidden, "Only the business's owner can do this.")
	// errSignupRefused answers a signup the policy does not allow.
	errSignupRefused = errorf(http.StatusForbidden,
		"Signing up is closed on this server. To answer chats here, ask the business's owner for an invitation link.")
	errNoInvite = errorf(http.StatusNotFound, "This invitation is unknown, used or expired. Ask the owner for a new link.")
)

// teamRoutes adds the team's routes to the route table.
func (s *Server) teamRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /accounts/api/invites", s.requireOwner(s.handleCreateInvite))
	mux.HandleFunc("GET /accounts/api/invites", s.requireOwner(s.handleListInvites))
	mux.HandleFunc("DELETE /accounts/api/invites/{token}", s.requireOwner(s.handleDeleteInvite))
	mux.HandleFunc("POST /accounts/api/join", s.handleJoin)
	mux.HandleFunc("GET /accounts/api/agents", s.requireUser(s.handleListAgents))
	mux.HandleFunc("DELETE /accounts/api/agents/{id}", s.requireOwner(s.handleDeleteAgent))
	mux.HandleFunc("PATCH /accounts/api/me", s.requireUser(s.handleUpdateMe))
	mux.HandleFunc("GET /join/{token}", s.handleJoinPage)
}

// signupRefused answers whether the policy refuses a signup now: the
// check before any work (createBusiness checks "first" again inside the
// transaction, so two racing signups cannot both be first).
func (s *Server) signupRefused(ctx context.Context) error {
	switch s.cfg.Signup {
	case signupOpen:
		return nil
	case signupFirst:
		some, err := s.db.HasUsers(ctx)
		if err != nil {
			return err
		}
		if some {
			return errSignupRefused
		}
		return nil
	default:
		return errSignupRefused
	}
}

// createBusiness creates a business for a signup under the policy.
func (s *Server) createBusiness(ctx context.Context, username, hash, email, name string, then func(*sql.Tx, *User) error) (*User, error) {
	if s.cfg.Signup == signupClosed {
		return nil, errSignupRefused
	}
	u, err := s.db.createBusiness(ctx, username, hash, email, name, s.cfg.Signup != signupOpen, then)
	if errors.Is(err, errSignupClosed) {
		return nil, errSignupRefused
	}
	return u, err
}

// InviteJSON is the API's Invite.
type InviteJSON struct {
	Token   string `json:"token"`
	URL     string `json:"url"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Expires string `json:"expires"`
}

// publicURL is the address the world uses for links: the request's
// scheme and host (https when served over TLS, or behind a trusted proxy
// that says so, or with Secure cookies).
func (s *Server) publicURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || s.cfg.SecureCookies || (s.cfg.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) inviteJSON(r *http.Request, in *Invite) InviteJSON {
	return InviteJSON{Token: in.Token, URL: s.publicURL(r) + "/join/" + in.Token, Email: in.Email, Name: in.Name,
		Expires: formatTime(in.Expires)}
}

// inviteRequest is the body of POST /accounts/api/invites.
type inviteRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// handleCreateInvite handles "POST /accounts/api/invites": a single-use
// link valid for 7 days.
func (s *Server) handleCreateInvite(w http.ResponseWriter, r *http.Request, u *User) {
	var req inviteRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	email, name := strings.TrimSpace(req.Email), strings.TrimSpace(req.Name)
	errs := map[string]string{}
	if email != "" && !validEmail(email) {
		errs["email"] = "Enter a valid email address."
	}
	if utf8.RuneCountInString(name) > maxAgentName {
		errs["name"] = "Must be at most 64 characters."
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.db.nowMillis()
	in := &Invite{Token: base64.RawURLEncoding.EncodeToString(b[:]), BusinessID: u.BusinessID, Email: email, Name: name,
		Created: now, Expires: now + inviteLifetime.Milliseconds()}
	err := s.db.CreateInvite(r.Context(), in, maxPendingInvites, func(tx *sql.Tx) error {
		return s.queueInviteMail(r, tx, u, in) // invite_mail.go
	})
	if errors.Is(err, errTooMany) {
		// The limit frees up when the oldest pending invitation expires.
		wait := inviteLifetime
		if list, err := s.db.PendingInvites(r.Context(), u.BusinessID); err == nil && len(list) > 0 {
			wait = time.Duration(list[len(list)-1].Expires-now) * time.Millisecond
		}
		w.Header().Set("Retry-After", strconv.FormatInt(int64(wait/time.Second)+1, 10))
		s.writeError(w, r, errorf(http.StatusTooManyRequests,
			"You have %d pending invitations, the most there can be. Revoke one you no longer need.", maxPendingInvites))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invite": s.inviteJSON(r, in)})
}

// handleListInvites handles "GET /accounts/api/invites": pending ones.
func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request, u *User) {
	list, err := s.db.PendingInvites(r.Context(), u.BusinessID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]InviteJSON, len(list))
	for i, in := range list {
		out[i] = s.inviteJSON(r, in)
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
}

// handleDeleteInvite handles "DELETE /accounts/api/invites/{token}".
func (s *Server) handleDeleteInvite(w http.ResponseWriter, r *http.Request, u *User) {
	err := s.db.DeleteInvite(r.Context(), u.BusinessID, r.PathValue("token"))
	if errors.Is(err, errNotFound) {
		err = errorf(http.StatusNotFound, "There is no such pending invitation.")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// joinRequest is the body of POST /accounts/api/join.
type joinRequest struct {
	Token    string `json:"token"`
	Username string `json:"username"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// handleJoin handles "POST /accounts/api/join": an invitation becomes an
// agent of its business, signed in.
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if req.Token == "" || len(req.Token) > 64 {
		s.writeError(w, r, errNoInvite)
		return
	}
	if _, err := s.db.InviteByToken(ctx, req.Token); err != nil {
		if errors.Is(err, errNotFound) {
			err = errNoInvite
		}
		s.writeError(w, r, err)
		return
	}
	username := strings.ToLower(strings.TrimSpace(req.Username))
	name := strings.TrimSpace(req.Name)
	errs := map[string]string{}
	switch {
	case username == "":
		errs["username"] = "This field is required."
	case !usernameRE.MatchString(username):
		errs["username"] = "Use 1 to 32 of a-z, 0-9, _ . and -."
	case reservedUsernames[username]:
		errs["username"] = "This username is reserved."
	}
	validatePassword("password", req.Password, errs)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		errs["name"] = "This field is required."
	case n > maxAgentName:
		errs["name"] = "Must be at most 64 characters."
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	hash, err := hashPassword(req.Password, s.cfg.BcryptCost)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.db.JoinWithInvite(ctx, req.Token, username, hash, name)
	switch {
	case errors.Is(err, errNotFound):
		s.writeError(w, r, errNoInvite)
		return
	case errors.Is(err, errConflict):
		s.writeError(w, r, &apiError{Status: http.StatusConflict, Detail: "That username is taken.",
			Fields: map[string]string{"username": "This username is taken."}})
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	if err := s.signIn(ctx, u); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"detail": "success", "user": u.JSON()})
}

// agentJSON is an entry of GET /accounts/api/agents: a User and whether
// any socket of the agent is open.
type agentJSON struct {
	UserJSON
	Online bool `json:"online"`
}

// handleListAgents handles "GET /accounts/api/agents": the business's
// agents, the owner first.
func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request, u *User) {
	list, err := s.db.Agents(r.Context(), u.BusinessID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]agentJSON, len(list))
	for i, a := range list {
		out[i] = agentJSON{UserJSON: a.JSON(), Online: s.hub.AgentOnline(a.ID)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}

// handleDeleteAgent handles "DELETE /accounts/api/agents/{id}": the agent
// is removed, its sessions end (its row is gone), its open sockets close
// at once, and the rooms assigned to it become unassigned, live.
func (s *Server) handleDeleteAgent(w http.ResponseWriter, r *http.Request, u *User) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		s.writeError(w, r, errorf(http.StatusNotFound, "There is no such agent."))
		return
	}
	if id == u.ID {
		s.writeError(w, r, errorf(http.StatusForbidden, "The owner cannot be removed."))
		return
	}
	unassigned, err := s.db.DeleteAgent(r.Context(), u.BusinessID, id)
	if err != nil {
		if errors.Is(err, errNotFound) {
			err = errorf(http.StatusNotFound, "There is no such agent.")
		}
		s.writeError(w, r, err)
		return
	}
	s.hub.EndAgent(u.BusinessID, id)
	// The agent's rooms are nobody's now: every open inbox shows it.
	for _, room := range unassigned {
		s.publishRoomUpdated(r.Context(), u.BusinessID, u.Business, room)
	}
	w.WriteHeader(http.StatusNoContent)
}

// updateMeRequest is the body of PATCH /accounts/api/me; absent fields
// keep their value.
type updateMeRequest struct {
	Name        *string `json:"name"`
	Email       *string `json:"email"`
	NotifyEmail *bool   `json:"notify_email"`
}

// handleUpdateMe handles "PATCH /accounts/api/me": the agent's display
// name, email and whether mail notifies them.
func (s *Server) handleUpdateMe(w http.ResponseWriter, r *http.Request, u *User) {
	var req updateMeRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	errs := map[string]string{}
	if req.Name != nil {
		name := strings.TrimSpace(*req.Name)
		req.Name = &name
		if n := utf8.RuneCountInString(name); n == 0 || n > maxAgentName {
			errs["name"] = "Must be 1 to 64 characters."
		}
	}
	if req.Email != nil {
		email := strings.TrimSpace(*req.Email)
		req.Email = &email
		if email != "" && !validEmail(email) {
			errs["email"] = "Enter a valid email address."
		}
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	nu, err := s.db.UpdateProfile(r.Context(), u.ID, req.Name, req.Email, req.NotifyEmail)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": nu.JSON()})
}

// handleJoinPage handles "GET /join/{token}": the join form, or the 404
// page for an unknown, used or expired invitation.
func (s *Server) handleJoinPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	in, err := s.db.InviteByToken(r.Context(), token)
	if errors.Is(err, errNotFound) {
		s.renderNotFound(w, r, "This invitation is unknown, used or expired. Ask the business's owner for a new link.", false)
		return
	}
	if err != nil {
		s.log.Error("join page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	owner, err := s.db.UserByID(r.Context(), in.BusinessID)
	if err != nil {
		s.log.Error("join page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	s.renderPage(w, r, http.StatusOK, "join.html", pageData{Title: "Join " + owner.Business, Username: owner.Business,
		Consumer: token, Message: in.Name})
}
