package main

import (
	"database/sql"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// signupRequest is the body of POST /accounts/api/signup.
type signupRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Email    string `json:"email"`
	Name     string `json:"name"`
}

// handleSignup handles "POST /accounts/api/signup": create the account and
// its chatbot, and sign in.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if err := s.signupRefused(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	var req signupRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	username := strings.ToLower(strings.TrimSpace(req.Username))
	email := strings.TrimSpace(req.Email)
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
	if email != "" {
		if !validEmail(email) {
			errs["email"] = "Enter a valid email address."
		}
	}
	if utf8.RuneCountInString(name) > 100 {
		errs["name"] = "Must be at most 100 characters."
	} else if problem := controlProblem(name, false); problem != "" {
		errs["name"] = problem
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
	// The account and its first session are one transaction: a session
	// that cannot be stored leaves no account behind (and one answer).
	ctx := r.Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	var committed, forget func()
	signedIn := false
	u, err := s.createBusiness(ctx, username, hash, email, name, func(tx *sql.Tx, u *User) error {
		s.sessions.Put(ctx, sessUserID, u.ID)
		s.sessions.Put(ctx, sessEpoch, u.SessionEpoch)
		signedIn = true
		var err error
		committed, forget, err = s.commitSessionIn(ctx, tx)
		return err
	})
	if forget != nil {
		defer forget()
	}
	if err != nil && signedIn {
		// The account id was rolled back (and will be given to the next
		// account): the session must not keep it.
		s.sessions.Remove(ctx, sessUserID)
		s.sessions.Remove(ctx, sessEpoch)
	}
	if errors.Is(err, errConflict) {
		s.writeError(w, r, &apiError{Status: http.StatusConflict, Detail: "That username is taken.",
			Fields: map[string]string{"username": "This username is taken."}})
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	committed()
	s.setDeviceCookie(w, u.Username)
	writeJSON(w, http.StatusCreated, map[string]any{"detail": "success", "user": u.JSON(), "userDetails": originalUserDetails(u)})
}

// loginRequest is the body of POST /accounts/api/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// handleLogin handles "POST /accounts/api/login". Failures are counted per
// username and per client address; past the limit the answer is 429 with
// Retry-After, before any password is checked.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	username := strings.ToLower(strings.TrimSpace(req.Username))
	errs := map[string]string{}
	if username == "" {
		errs["username"] = "This field is required."
	}
	if req.Password == "" {
		errs["password"] = "This field is required."
	}
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	// A browser that signed in to this account before (a valid device
	// cookie, device.go) has its own failure budget and is not locked out
	// by failures from anyone else; every other request counts against
	// the username and the address.
	keys := []string{"user:" + username, "addr:" + s.clientAddr(r)}
	if device := s.deviceOf(r, username); device != "" && s.throttle.blocked("device:"+device) == 0 {
		keys = []string{"device:" + device}
	}
	if s.throttled(w, r, "Too many failed sign-in attempts. Try again later.", keys...) {
		return
	}
	u, err := s.db.UserByName(r.Context(), username)
	if err != nil && !errors.Is(err, errNotFound) {
		s.writeError(w, r, err)
		return
	}
	ok := false
	if u != nil {
		ok = checkPassword([]byte(u.PasswordHash), req.Password)
	} else if len(req.Password) <= 4*maxPassword {
		// Spend the same time as for a wrong password.
		checkPassword(s.dummyHash(), req.Password)
	}
	if !ok {
		s.throttle.fail(keys...)
		s.writeError(w, r, errorf(http.StatusUnauthorized, "Username or password is incorrect"))
		return
	}
	s.throttle.reset(keys[0]) // the username's failures, or the device's
	if err := s.signIn(r.Context(), u); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setDeviceCookie(w, u.Username)
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success", "user": u.JSON(), "userDetails": originalUserDetails(u)})
}

// throttled answers 429 with Retry-After, and reports true, when any of
// keys has had too many failures in the window.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, detail string, keys ...string) bool {
	wait := s.throttle.blocked(keys...)
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	s.writeError(w, r, errorf(http.StatusTooManyRequests, "%s", detail))
	return true
}

// clientAddr is the address failed logins are counted against: the peer,
// or behind a trusted proxy the last X-Forwarded-For hop.
func (s *Server) clientAddr(r *http.Request) string {
	if s.cfg.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			if a := strings.TrimSpace(parts[len(parts)-1]); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// handleLogout handles "POST /accounts/api/logout".
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, u *User) {
	token := s.sessions.Token(r.Context())
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.hub.EndSession(u.ID, token)
	w.WriteHeader(http.StatusNoContent)
}

// handleMe handles "GET /accounts/api/me".
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, u *User) {
	writeJSON(w, http.StatusOK, map[string]any{"user": u.JSON()})
}

// changePasswordRequest is the body of POST /accounts/api/changepassword.
type changePasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// handleChangePassword handles "POST /accounts/api/changepassword". The
// account's session epoch moves on, which ends its other sessions; this
// one is renewed and carries the new epoch.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, u *User) {
	var req changePasswordRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	errs := map[string]string{}
	if req.OldPassword == "" {
		errs["old_password"] = "This field is required."
	}
	validatePassword("new_password", req.NewPassword, errs)
	if len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	// Guesses at the old password are throttled like logins (a stolen
	// session must not be a way to try passwords at full speed), with
	// counters of their own, so they cannot lock the owner out of signing
	// in.
	keys := []string{"changepw-user:" + u.Username, "changepw-addr:" + s.clientAddr(r)}
	if s.throttled(w, r, "Too many wrong passwords. Try again later.", keys...) {
		return
	}
	if !checkPassword([]byte(u.PasswordHash), req.OldPassword) {
		s.throttle.fail(keys...)
		s.writeError(w, r, &apiError{Status: http.StatusForbidden, Detail: "The old password is not correct.",
			Fields: map[string]string{"old_password": "Not correct."}})
		return
	}
	hash, err := hashPassword(req.NewPassword, s.cfg.BcryptCost)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	epoch, err := s.db.SetPassword(r.Context(), u.ID, hash)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u.SessionEpoch = epoch
	// Every admin socket was opened with a session that has now ended
	// (this browser's too: its token is renewed below; it reconnects).
	s.hub.EndSession(u.ID, "")
	if err := s.signIn(r.Context(), u); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "success"})
}
