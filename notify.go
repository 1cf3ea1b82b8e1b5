package main

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"
)

// Wiring of the notification foundations (outbox.go, mail.go, push.go)
// into the Server.

// initNotify builds the mailer and outbox from the config, starts the
// sender, and makes (or loads) the VAPID keys. A mail configuration that does not validate was
// refused by parseFlags already; here (tests, or a Config built by hand) it
// is logged and mail stays off.
func (s *Server) initNotify() {
	m, err := newMailer(s.cfg)
	if err != nil {
		s.log.Error("mail is off", "err", err)
	}
	s.outbox = newOutbox(s.db, m, s.log)
	if s.outbox != nil {
		s.outbox.metrics = s.metrics
	}
	s.metrics.watchOutbox(s.outbox.depth)
	s.outbox.Start()
	s.push = newPusher(s.db, s.cfg, s.log)
	s.push.metrics = s.metrics
}

// MailEnabled reports whether --smtp is set, for settings.
func (s *Server) MailEnabled() bool { return s.outbox.MailEnabled() }

// handleMailStatus handles "GET /accounts/api/mail": what settings show
// about mail (off; or on, with the queue, the last success and failed try
// of this business, and its last permanent failure).
func (s *Server) handleMailStatus(w http.ResponseWriter, r *http.Request, u *User) {
	st, err := s.outbox.Status(r.Context(), u.BusinessID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// testMailEvery is how often an account may send itself a test email.
const testMailEvery = 30 * time.Second

// handleTestMail handles "POST /accounts/api/mail/test": queue an email to
// the account's own address → 202, so the owner sees mail work (or fail)
// in the status.
func (s *Server) handleTestMail(w http.ResponseWriter, r *http.Request, u *User) {
	if !s.MailEnabled() {
		s.writeError(w, r, errorf(http.StatusConflict, "Mail is off: the server was started without --smtp."))
		return
	}
	if u.Email == "" {
		s.writeError(w, r, errorf(http.StatusBadRequest, "Your account has no email address to send the test to."))
		return
	}
	if wait := s.testMails.take(u.ID, s.db.now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
		s.writeError(w, r, errorf(http.StatusTooManyRequests, "A test email was just sent; try again in a moment."))
		return
	}
	base := publicURL(s.cfg)
	m := Mail{
		UserID:     u.BusinessID,
		To:         u.Email,
		Subject:    "livechat test email",
		Paragraphs: []string{"This is a test email from your livechat server. Mail works: notifications of new visitor messages and replies to your visitors will arrive like this one."},
		Link:       base + "/settings",
		LinkText:   "Your settings",
	}
	err := s.db.inTx(r.Context(), func(tx *sql.Tx) error { return s.outbox.Enqueue(r.Context(), tx, m) })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"detail": "The test email is on its way to " + u.Email + "."})
}
