package main

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
	s.outbox.Start()
	s.push = newPusher(s.db, s.cfg, s.log)
}

// MailEnabled reports whether --smtp is set, for settings.
func (s *Server) MailEnabled() bool { return s.outbox.MailEnabled() }
