package main

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
)

// The pages are plain HTML templates, CSS and JavaScript modules embedded
// in the binary: no build step, nothing from a CDN.
//
//go:embed static
var staticFS embed.FS

// Content-Security-Policy of the pages. No inline script, no inline style
// attributes (colours are set through the CSSOM; the visitor window's
// server-rendered colours are one <style> allowed by a nonce), nothing from other
// origins. 'self' in connect-src covers same-origin ws:/wss: in current
// browsers (CSP Level 3). cspFrameable is the visitor window's, which any
// site may embed: it is what widget.js frames.
const (
	cspPageBase = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src 'self'; font-src 'self'; manifest-src 'self'; media-src 'self' blob:; form-action 'self'; base-uri 'none'"
	cspPage      = cspPageBase + "; frame-ancestors 'none'"
	cspFrameable = cspPageBase + "; frame-ancestors *"
)

// pageTemplates are static/*.html, parsed once.
var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"json":    toJSON,
	"initial": initial,
	"demoData": func() demo {
		return demoFor(&Chatbot{ChatbotName: "Nordic Bikes", IntroductionText: "Hi! Ask us anything about our bikes."})
	},
	"demoFor": demoFor,
}).ParseFS(pageFS, "static/*.html")) // pageFS: assets.go

// demo is what the "demo" template (a chat window with sample messages)
// shows: the landing page's illustration and the settings preview.
type demo struct{ Name, Initial, Intro, Picture string }

func demoFor(c *Chatbot) demo {
	return demo{Name: c.ChatbotName, Initial: initial(c.ChatbotName), Intro: c.IntroductionText, Picture: c.BotPicture}
}

// initial is the first letter of a name, for avatars without a picture.
func initial(name string) string {
	for _, r := range name {
		return string(r)
	}
	return "?"
}

// toJSON renders a value for a data- attribute (html/template escapes it).
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// pageData is what a page template sees. Everything a script needs goes
// into data- attributes, since no inline script is allowed.
type pageData struct {
	Title    string
	User     *User
	Username string // the chatbot's (visitor window) or the admin's
	Consumer string
	Chatbot  *Chatbot
	Online   bool
	Message  string // 404 page
	Bare     bool   // 404 page without the site's top bar (in the widget's frame)
	// MaxContent is the longest message the server takes, in characters,
	// and MaxUpload the largest chat file, in bytes (set by renderPage
	// from the config).
	MaxContent int
	MaxUpload  int64
	// Mail is whether mail is on, and HasEmail whether the visitor's
	// conversation has an email: the visitor window offers "email me
	// this conversation" (transcript_mail.go) when both are true.
	Mail     bool
	HasEmail bool
	// StyleCSS, when set, goes into a <style> with StyleNonce, which
	// renderPage makes and allows in the page's CSP.
	StyleCSS   template.CSS
	StyleNonce string
}

// chatbotCSS is the chatbot's colours as the visitor window's custom
// properties (the names style.js applyChatbotStyle sets), so the window is
// in its colours before any script runs. Only #rgb/#rrggbb values get in.
func chatbotCSS(c *Chatbot) template.CSS {
	var b strings.Builder
	b.WriteString(".lcw{")
	for _, v := range [...][2]string{
		{"--header-bg", c.HeaderBackgroundColor}, {"--header-fg", c.HeaderTextColor},
		{"--intro-bg", c.IntroductionBackgroundColor}, {"--intro-fg", c.IntroductionTextColor},
		{"--recv-bg", c.ReceiverBackground}, {"--recv-fg", c.ReceiverTextColor},
		{"--send-bg", c.SenderBackground}, {"--send-fg", c.SenderTextColor},
		{"--bg", c.BackgroundColor}, {"--input-bg", c.InputBarBackground}, {"--input-fg", c.InputTextColor},
	} {
		if colorRE.MatchString(v[1]) {
			b.WriteString(v[0] + ":" + v[1] + ";")
		}
	}
	b.WriteString("}")
	return template.CSS(b.String())
}

// renderPage writes a page template with the pages' headers.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, data pageData) {
	data.MaxContent = s.cfg.MaxContent
	data.MaxUpload = s.cfg.MaxUpload
	if data.StyleCSS != "" {
		var n [16]byte
		_, _ = rand.Read(n[:])
		data.StyleNonce = base64.RawURLEncoding.EncodeToString(n[:]) // nothing html/template escapes
	}
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("page template failed", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", cspPage)
	h.Set("X-Frame-Options", "DENY")
	if name == "chat.html" {
		h.Set("Content-Security-Policy", cspFrameable)
		h.Del("X-Frame-Options")
	}
	if data.StyleNonce != "" {
		csp := h.Get("Content-Security-Policy")
		h.Set("Content-Security-Policy", strings.Replace(csp, "style-src 'self'", "style-src 'self' 'nonce-"+data.StyleNonce+"'", 1))
	}
	writePage(w, r, status, buf.Bytes())
}

// pageUser is the signed-in admin, or nil. A broken session counts as
// signed out on a page (the API paths report the error).
func (s *Server) pageUser(r *http.Request) *User {
	u, err := s.currentUser(r)
	if err != nil {
		s.log.Warn("session lookup failed", "path", r.URL.Path, "err", err)
		return nil
	}
	return u
}

// handleLanding handles "GET /": what livechat is; signed-in admins get
// links to the inbox and settings.
func (s *Server) handleLanding(w http.ResponseWriter, r *http.Request) {
	s.renderPage(w, r, http.StatusOK, "landing.html", pageData{Title: "livechat", User: s.pageUser(r)})
}

// handleSigninPage handles "GET /signin"; signed-in admins go on to the inbox.
func (s *Server) handleSigninPage(w http.ResponseWriter, r *http.Request) {
	if s.pageUser(r) != nil {
		http.Redirect(w, r, "/messages", http.StatusSeeOther)
		return
	}
	s.renderPage(w, r, http.StatusOK, "signin.html", pageData{Title: "Sign in"})
}

// handleSignupPage handles "GET /signup"; signed-in admins go on to the inbox.
func (s *Server) handleSignupPage(w http.ResponseWriter, r *http.Request) {
	if s.pageUser(r) != nil {
		http.Redirect(w, r, "/messages", http.StatusSeeOther)
		return
	}
	s.renderPage(w, r, http.StatusOK, "signup.html", pageData{Title: "Create your account"})
}

// handleInboxPage handles "GET /messages"; signed-out visitors go to /signin.
func (s *Server) handleInboxPage(w http.ResponseWriter, r *http.Request) {
	u := s.pageUser(r)
	if u == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	s.renderPage(w, r, http.StatusOK, "messages.html", pageData{Title: "Inbox", User: u, Username: u.Business})
}

// handleSettingsPage handles "GET /settings"; signed-out visitors go to /signin.
func (s *Server) handleSettingsPage(w http.ResponseWriter, r *http.Request) {
	u := s.pageUser(r)
	if u == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	c, err := s.db.ChatbotByUser(r.Context(), u.BusinessID, u.Business)
	if err != nil {
		s.log.Error("settings page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	s.renderPage(w, r, http.StatusOK, "settings.html", pageData{Title: "Settings", User: u, Username: u.Business, Chatbot: c})
}

// handleVisitorPage handles "GET /chatbot/{username}/{consumer}": the
// visitor's chat window, rendered with the chatbot's style so it shows
// without a flash of default colours. Unknown usernames get the 404 page.
func (s *Server) handleVisitorPage(w http.ResponseWriter, r *http.Request) {
	username := strings.ToLower(r.PathValue("username"))
	consumer := r.PathValue("consumer")
	u, err := s.db.BusinessByHandle(r.Context(), username)
	if errors.Is(err, errNotFound) {
		s.renderNotFound(w, r, "There is no chat here. Check the address, or ask the business for its chat link.", true)
		return
	}
	if err != nil {
		s.log.Error("visitor page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	if !consumerRE.MatchString(consumer) {
		s.renderNotFound(w, r, "This chat link is not valid.", true)
		return
	}
	c, err := s.db.ChatbotByUser(r.Context(), u.ID, u.Username)
	if err != nil {
		s.log.Error("visitor page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	hasEmail := false
	if s.MailEnabled() {
		if room, err := s.db.RoomByConsumer(r.Context(), u.ID, consumer); err == nil {
			hasEmail = room.Email != ""
		}
	}
	s.renderPage(w, r, http.StatusOK, "chat.html", pageData{
		Title: c.ChatbotName, Username: u.Username, Consumer: consumer, Chatbot: c,
		// Online: someone answers now (SPEC's not "away").
		Online:   s.hub.AdminOnline(u.ID) && c.Hours.isOpen(s.db.now()),
		StyleCSS: chatbotCSS(c),
		Mail:     s.MailEnabled(), HasEmail: hasEmail,
	})
}

// notFoundPage is the friendly HTML 404 for unknown page paths.
func (s *Server) notFoundPage(w http.ResponseWriter, r *http.Request) {
	s.renderNotFound(w, r, "", false)
}

// renderNotFound writes the 404 page. Inside the visitor window (which
// may be framed) it may be framed too, so the widget shows it rather than
// a browser error.
func (s *Server) renderNotFound(w http.ResponseWriter, r *http.Request, msg string, frameable bool) {
	name := "404.html"
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, pageData{Title: "Not found", Message: msg, User: s.pageUser(r), Bare: frameable}); err != nil {
		s.log.Error("page template failed", "page", name, "err", err)
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if frameable {
		h.Set("Content-Security-Policy", cspFrameable)
		h.Del("X-Frame-Options")
	} else {
		h.Set("Content-Security-Policy", cspPage)
		h.Set("X-Frame-Options", "DENY")
	}
	writePage(w, r, http.StatusNotFound, buf.Bytes())
}
