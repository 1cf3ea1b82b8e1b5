package main

import (
	"database/sql"
	"net/http"
	"time"
)

// queueInviteMail queues the invitation's email, when it names an address
// and mail is on, in the transaction that stores the invitation: the link
// is mailed exactly when the invitation exists.
func (s *Server) queueInviteMail(r *http.Request, tx *sql.Tx, from *User, in *Invite) error {
	if in.Email == "" || s.outbox == nil {
		return nil
	}
	base := s.publicURL(r) // where the owner reached us, as the invite's own link
	if s.cfg.PublicURL != "" || len(s.cfg.Domains) > 0 {
		base = publicURL(s.cfg)
	}
	inviter := from.Name
	if inviter == "" {
		inviter = from.Username
	}
	to := in.Email
	if in.Name != "" {
		to = oneLine(in.Name, 64) + " <" + in.Email + ">"
		if checkMail(&Mail{To: to, Subject: "x"}) != nil {
			to = in.Email
		}
	}
	expires := time.UnixMilli(in.Expires).UTC().Format("2 January 2006")
	m := Mail{
		UserID:  in.BusinessID,
		To:      to,
		ReplyTo: from.Email,
		Subject: "Join " + oneLine(from.Business, 64) + " on livechat",
		Paragraphs: []string{
			oneLine(inviter, 80) + " invites you to answer " + oneLine(from.Business, 64) + "'s visitors on livechat.",
			"Choose a username and password on the page the button opens. The invitation works once and until " + expires + ".",
		},
		Link:     base + "/join/" + in.Token,
		LinkText: "Join " + oneLine(from.Business, 64),
	}
	if from.Email == "" {
		m.ReplyTo = ""
	}
	return s.outbox.Enqueue(r.Context(), tx, m)
}
