package main

// Mail: turning a queued Mail into a MIME message and handing it to the
// SMTP server with github.com/wneessen/go-mail. The queue around it is
// outbox.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Mail is one email as queued: everything needed to send it again after a
// restart. User text (a visitor's message, a business name) may go in any
// field; the HTML part escapes it.
type Mail struct {
	// UserID is the business account whose event caused the email; a
	// permanent failure is shown to its owner (LastMailFailure). 0: none.
	UserID int64 `json:"user_id,omitempty"`
	// To is the recipient, "address" or "Name <address>".
	To string `json:"to"`
	// ReplyTo, when set, is where the recipient's answer goes.
	ReplyTo string `json:"reply_to,omitempty"`
	Subject string `json:"subject"`
	// Paragraphs are the body, one paragraph each; line breaks inside a
	// paragraph are kept.
	Paragraphs []string `json:"paragraphs"`
	// Link is the one call to action ("Open the conversation"), an
	// absolute URL; LinkText labels it.
	Link     string `json:"link,omitempty"`
	LinkText string `json:"link_text,omitempty"`
	// Unsubscribe is an absolute URL that stops this kind of mail with
	// one POST (RFC 8058) or a visit; sent as List-Unsubscribe.
	Unsubscribe string `json:"unsubscribe,omitempty"`

	// Set by Enqueue, so every attempt sends the same message: the
	// receiving side can tell a repeat by its Message-ID.
	MessageID string    `json:"message_id"`
	Date      time.Time `json:"date"`
}

// smtpSettings is --smtp taken apart.
type smtpSettings struct {
	implicitTLS bool // smtps://
	host        string
	port        int
	user, pass  string
}

// parseSMTPURL reads smtp://user:pass@host:587 (STARTTLS required) or
// smtps://user:pass@host:465 (TLS from the first byte). Its errors never
// repeat the URL, which holds the password.
func parseSMTPURL(raw string) (smtpSettings, error) {
	var s smtpSettings
	u, err := url.Parse(raw)
	if err != nil {
		return s, errors.New("--smtp is not a URL (want smtp://user:password@host:587 or smtps://user:password@host:465)")
	}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.implicitTLS = true
		s.port = 465
	default:
		return s, errors.New("--smtp must start with smtp:// (STARTTLS) or smtps:// (TLS)")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return s, errors.New("--smtp has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return s, errors.New("--smtp has a bad port")
		}
		s.port = n
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return s, errors.New("--smtp takes only user, password, host and port")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	return s, nil
}

// checkMailConfig validates the mail flags: with --smtp, --smtp-from is
// required and --public-url, when given, must be an absolute http(s) URL.
func checkMailConfig(c Config) error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("--public-url must be an absolute http:// or https:// URL, like https://chat.example.com")
		}
	}
	if c.SMTP == "" {
		return nil
	}
	if _, err := parseSMTPURL(c.SMTP); err != nil {
		return err
	}
	if c.SMTPFrom == "" {
		return errors.New("--smtp needs --smtp-from, the sender: \"Name <address>\"")
	}
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		return fmt.Errorf("--smtp-from %q is not an address like \"Name <address>\"", c.SMTPFrom)
	}
	return nil
}

// publicURL is the base of links sent out of the server, without a
// trailing slash: --public-url, else https:// and the first --domain,
// else the listen address (with localhost for an unspecified host) under
// http or https as served.
func publicURL(c Config) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	if len(c.Domains) > 0 {
		return "https://" + c.Domains[0]
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return scheme + "://" + c.Addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// mailer sends one Mail at a time over a fresh SMTP connection; sending is
// rare (notifications, invites), so a pooled connection would only add
// reconnect logic.
type mailer struct {
	smtp       smtpSettings
	from       string // "Name <address>"
	fromDomain string // for Message-IDs
	// tlsConfig, when set, replaces the default (system roots, the host's
	// name); tests trust their own SMTP server's certificate with it.
	tlsConfig *tls.Config
	timeout   time.Duration
}

// newMailer builds the mailer from the config, or returns nil when mail is
// off (no --smtp).
func newMailer(c Config) (*mailer, error) {
	if c.SMTP == "" {
		return nil, nil
	}
	if err := checkMailConfig(c); err != nil {
		return nil, err
	}
	st, _ := parseSMTPURL(c.SMTP)
	from, _ := mail.ParseAddress(c.SMTPFrom)
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &mailer{smtp: st, from: from.String(), fromDomain: domain, timeout: 30 * time.Second}, nil
}

// newMessageID makes a Message-ID (without the angle brackets) under the
// sender's domain.
func (m *mailer) newMessageID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@" + m.fromDomain
}

// checkMail validates a Mail before it is queued, so a bad address is the
// caller's error now rather than a failure a day later.
func checkMail(ml *Mail) error {
	if _, err := mail.ParseAddress(ml.To); err != nil {
		return fmt.Errorf("mail: recipient %q: %w", ml.To, err)
	}
	if ml.ReplyTo != "" {
		if _, err := mail.ParseAddress(ml.ReplyTo); err != nil {
			return fmt.Errorf("mail: reply-to %q: %w", ml.ReplyTo, err)
		}
	}
	if strings.TrimSpace(ml.Subject) == "" || strings.ContainsAny(ml.Subject, "\r\n") {
		return errors.New("mail: the subject must be one non-empty line")
	}
	for _, link := range []string{ml.Link, ml.Unsubscribe} {
		if link == "" {
			continue
		}
		if u, err := url.Parse(link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("mail: link %q is not an absolute http(s) URL", link)
		}
	}
	return nil
}

// message builds the MIME message: plain text first, then the HTML
// alternative, with Date and Message-ID from the queue so a retry is the
// same message.
func (m *mailer) message(ml *Mail) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return nil, err
	}
	if err := msg.To(ml.To); err != nil {
		return nil, err
	}
	if ml.ReplyTo != "" {
		if err := msg.ReplyTo(ml.ReplyTo); err != nil {
			return nil, err
		}
	}
	msg.Subject(ml.Subject)
	msg.SetDateWithValue(ml.Date)
	msg.SetMessageIDWithValue(ml.MessageID)
	// RFC 3834: an automatic message; autoresponders must not answer it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	if ml.Unsubscribe != "" {
		// RFC 8058 one-click: the link accepts a POST with no page in
		// between. (go-mail's SetListUnsubscribeOneClick insists on https;
		// a test or LAN server on http gets the same two headers.)
		msg.SetListUnsubscribe(ml.Unsubscribe)
		msg.SetListUnsubscribePost()
	}
	text, html, err := renderMail(ml)
	if err != nil {
		return nil, err
	}
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

// send delivers one Mail. delivered is true once the SMTP server accepted
// the DATA, even if something afterwards (RSET, QUIT) failed: such a mail
// must not be sent again.
func (m *mailer) send(ctx context.Context, ml *Mail) (delivered bool, err error) {
	msg, err := m.message(ml)
	if err != nil {
		return false, permanentError{err}
	}
	tc := m.tlsConfig
	if tc == nil {
		tc = &tls.Config{ServerName: m.smtp.host, MinVersion: tls.VersionTLS12}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*m.timeout)
	defer cancel()
	// Our own dial, so that ctx ending (Stop giving up on a mail server
	// that does not answer) closes the connection mid-conversation:
	// go-mail itself heeds ctx only while dialing. (After a finished send
	// the deferred cancel closes a connection already quit: harmless.)
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var c net.Conn
		var err error
		if m.smtp.implicitTLS {
			c, err = (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(dctx, network, addr)
		} else {
			c, err = d.DialContext(dctx, network, addr)
		}
		if err == nil {
			context.AfterFunc(ctx, func() { c.Close() })
		}
		return c, err
	}
	opts := []gomail.Option{
		gomail.WithPort(m.smtp.port),
		gomail.WithTimeout(m.timeout),
		gomail.WithTLSConfig(tc),
		gomail.WithDialContextFunc(dial),
	}
	if m.smtp.implicitTLS {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.smtp.user != "" {
		// TLS is certain here (implicit, or STARTTLS mandatory), but with
		// its own dial go-mail cannot tell for implicit TLS and its
		// auto-discovery would then refuse PLAIN and LOGIN; so name the
		// mechanisms, strongest first.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(
			gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
			gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(m.smtp.user), gomail.WithPassword(m.smtp.pass))
	}
	c, err := gomail.NewClient(m.smtp.host, opts...)
	if err != nil {
		return false, m.scrub(err)
	}
	err = c.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		return true, nil
	}
	if err == nil {
		// Not reachable with go-mail today: no error yet not delivered.
		err = errors.New("the SMTP server did not confirm the message")
	}
	return false, m.scrub(err)
}

// permanentError marks a failure that no retry can fix (a 5xx answer, a
// message that cannot be built).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// isPermanent reports whether the SMTP server refused the message for
// good (5xx): a connection that failed, a timeout, or a 4xx is worth
// another try.
func isPermanent(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return true
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		return code >= 500 && code < 600
	}
	return false
}

// scrub removes the SMTP password from an error's text, should a library
// ever echo it, before it is logged or stored.
func (m *mailer) scrub(err error) error {
	if err == nil || m.smtp.pass == "" || !strings.Contains(err.Error(), m.smtp.pass) {
		return err
	}
	e := errors.New(strings.ReplaceAll(err.Error(), m.smtp.pass, "[password]"))
	if isPermanent(err) {
		return permanentError{e}
	}
	return e
}

// mailHTML is the HTML part. html/template escapes every field, so a
// visitor's "<script>" arrives as text.
var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;font-size:15px;line-height:1.45;color:#1f2328">
{{range .Paragraphs}}<p style="white-space:pre-wrap;margin:0 0 12px">{{.}}</p>
{{end}}{{if .Link}}<p style="margin:20px 0"><a href="{{.Link}}" style="background:#2563eb;color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none">{{if .LinkText}}{{.LinkText}}{{else}}{{.Link}}{{end}}</a></p>
{{end}}{{if .Unsubscribe}}<p style="font-size:12px;color:#6e7781;margin-top:28px"><a href="{{.Unsubscribe}}" style="color:#6e7781">Unsubscribe</a> from emails about this conversation.</p>
{{end}}</body></html>
`))

// renderMail makes the plain-text and HTML bodies.
func renderMail(ml *Mail) (text, html string, err error) {
	var t strings.Builder
	for _, p := range ml.Paragraphs {
		t.WriteString(strings.ReplaceAll(p, "\r\n", "\n"))
		t.WriteString("\n\n")
	}
	if ml.Link != "" {
		if ml.LinkText != "" {
			t.WriteString(ml.LinkText + ": ")
		}
		t.WriteString(ml.Link + "\n\n")
	}
	if ml.Unsubscribe != "" {
		t.WriteString("-- \nUnsubscribe from emails about this conversation: " + ml.Unsubscribe + "\n")
	}
	var h bytes.Buffer
	if err := mailHTML.Execute(&h, ml); err != nil {
		return "", "", err
	}
	return t.String(), h.String(), nil
}

// The emails issue 10 sends, as pure builders for the code that will
// enqueue them (with Outbox.Enqueue, in the transaction of their cause).

// quotedMessage is one chat message quoted in an email.
type quotedMessage struct {
	Author  string // "Visitor", an agent's name, the business's handle
	Content string
	File    string // a file's name, when the message is a file
	At      time.Time
}

// oneLine makes user text safe for a header or a one-line label: control
// characters (CR, LF among them) become spaces, and it is cut to n
// characters.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return truncateRunes(strings.Join(strings.Fields(s), " "), n)
}

// quoteParagraphs renders messages as paragraphs: "Author, 15:04:" then
// the text. Times are shown in UTC with the zone, since the reader's zone
// is unknown.
func quoteParagraphs(msgs []quotedMessage) []string {
	var ps []string
	for _, m := range msgs {
		text := m.Content
		if m.File != "" {
			text = strings.TrimSpace(text + "\n[file: " + oneLine(m.File, 200) + "]")
		}
		ps = append(ps, oneLine(m.Author, 80)+", "+m.At.UTC().Format("2 Jan 15:04 MST")+":\n"+text)
	}
	return ps
}

// agentNotifyMail tells an agent about visitor messages nobody has read:
// it quotes them and links to the conversation in the inbox. Reply-To is
// the visitor's address when known, so answering by email works too.
func agentNotifyMail(base string, userID int64, agentEmail, businessName, consumer, visitorEmail string, msgs []quotedMessage) Mail {
	who := "A visitor"
	if visitorEmail != "" {
		who = oneLine(visitorEmail, 100)
	}
	subject := fmt.Sprintf("New message from %s on %s", who, oneLine(businessName, 80))
	if len(msgs) > 1 {
		subject = fmt.Sprintf("%d new messages from %s on %s", len(msgs), who, oneLine(businessName, 80))
	}
	return Mail{
		UserID:     userID,
		To:         agentEmail,
		ReplyTo:    visitorEmail,
		Subject:    subject,
		Paragraphs: append([]string{who + " wrote and nobody has answered yet:"}, quoteParagraphs(msgs)...),
		Link:       base + "/messages#c=" + url.PathEscape(consumer),
		LinkText:   "Answer in your inbox",
	}
}

// visitorReplyMail gives a visitor the replies they have not seen, with a
// link back to the same conversation and a one-click unsubscribe for it.
// Reply-To is the business's address when it has one.
func visitorReplyMail(base string, userID int64, username, businessName, businessEmail, consumer, visitorEmail, unsubscribeURL string, msgs []quotedMessage) Mail {
	name := oneLine(businessName, 80)
	return Mail{
		UserID:      userID,
		To:          visitorEmail,
		ReplyTo:     businessEmail,
		Subject:     name + " answered you",
		Paragraphs:  append([]string{name + " answered your message:"}, quoteParagraphs(msgs)...),
		Link:        base + "/chatbot/" + url.PathEscape(username) + "/" + url.PathEscape(consumer),
		LinkText:    "Open the conversation",
		Unsubscribe: unsubscribeURL,
	}
}
