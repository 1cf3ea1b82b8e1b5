package main

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// Readable transcripts of a conversation, for the business:
// GET /chatbot/api/rooms/{consumer}/export?format=html|text (JSON stays the
// default). Both are attachments; the HTML one is built by html/template,
// so every piece of visitor text is escaped, and is sent with a CSP that
// allows no script at all.

// cspTranscript is the HTML transcript's policy: its own inline style, no
// script, no requests, sandboxed.
const cspTranscript = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox"

// transcriptLine is one message of a readable transcript.
type transcriptLine struct {
	Time, Who, Content, File string
	Business, Private        bool
}

// transcript is what both readable formats show.
type transcript struct {
	Business, Visitor, Consumer, Email string
	Started, LastActivity, Exported    string
	Lines                              []transcriptLine
}

// transcriptTime shows an RFC 3339 time as "2006-01-02 15:04 UTC".
func transcriptTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// newTranscript gathers a room's messages for reading. Files are given as
// absolute URLs (origin, e.g. "https://chat.example.com"), as a
// transcript is read away from the site.
func newTranscript(business string, room *roomRow, msgs []Message, origin string, exported int64) transcript {
	visitor := "Visitor"
	if room.Email != "" {
		visitor = "Visitor (" + room.Email + ")"
	}
	tr := transcript{Business: business, Visitor: visitor, Consumer: room.Consumer, Email: room.Email,
		Started: transcriptTime(formatTime(room.Created)), LastActivity: transcriptTime(formatTime(room.LastActivity)),
		Exported: transcriptTime(formatTime(exported))}
	for _, m := range msgs {
		l := transcriptLine{Time: transcriptTime(m.Created), Who: visitor, Content: m.Content}
		if m.Author != room.Consumer {
			l.Who, l.Business = m.Author, true
		}
		if m.Private {
			// Exports are the business's: notes are in them, marked.
			l.Who += " (private note)"
			l.Private = true
		}
		if m.File != "" {
			l.File = m.File
			if strings.HasPrefix(m.File, "/") {
				l.File = origin + m.File
			}
		}
		tr.Lines = append(tr.Lines, l)
	}
	return tr
}

var transcriptHTML = template.Must(template.New("transcript").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conversation with {{.Visitor}} · {{.Business}}</title>
<style>
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #0f172a; background: #fff; max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
.meta { color: #475569; font-size: 13.5px; margin: 0 0 20px; }
ol { list-style: none; padding: 0; margin: 0; }
li { margin: 0 0 12px; }
.who { font-weight: 650; }
.time { color: #475569; font-size: 12.5px; margin-left: 6px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 2px 0 0; padding: 8px 12px; border-radius: 12px; background: #f1f5f9; }
.business .text { background: #eff6ff; }
.note .text { background: #fef9c3; border: 1px dashed #ca8a04; }
@media print { .text { background: none; border: 1px solid #cbd5e1; } }
</style></head>
<body>
<h1>Conversation with {{.Visitor}}</h1>
<p class="meta">{{.Business}} · visitor id {{.Consumer}} · started {{.Started}} · last activity {{.LastActivity}} · exported {{.Exported}}</p>
<ol>
{{- range .Lines}}
<li class="{{if .Business}}business{{else}}visitor{{end}}{{if .Private}} note{{end}}"><span class="who">{{.Who}}</span><span class="time">{{.Time}}</span>
<p class="text">{{if .File}}File: {{.Content}} — {{.File}}{{else}}{{.Content}}{{end}}</p></li>
{{- else}}
<li>No messages.</li>
{{- end}}
</ol>
</body>
</html>
`))

// text renders the transcript as plain text: one header, then each
// message as "[time] who:" and its lines indented.
func (tr transcript) text() string {
	var b strings.Builder
	b.WriteString("Conversation with " + tr.Visitor + "\n")
	b.WriteString(tr.Business + " · visitor id " + tr.Consumer + "\n")
	b.WriteString("Started " + tr.Started + " · last activity " + tr.LastActivity + " · exported " + tr.Exported + "\n\n")
	if len(tr.Lines) == 0 {
		b.WriteString("No messages.\n")
	}
	for _, l := range tr.Lines {
		b.WriteString("[" + l.Time + "] " + l.Who + ":\n")
		content := l.Content
		if l.File != "" {
			content = "File: " + l.Content + " — " + l.File
		}
		for _, line := range strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n") {
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String()
}

// requestOrigin is the scheme and host the request came to.
func (s *Server) requestOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || (s.cfg.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// writeTranscript answers an export in a readable format: "html", or
// plain text for anything else.
func (s *Server) writeTranscript(w http.ResponseWriter, r *http.Request, u *User, room *roomRow, msgs []Message, format string) {
	tr := newTranscript(u.Business, room, msgs, s.requestOrigin(r), s.db.nowMillis())
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	switch format {
	case "html":
		var buf bytes.Buffer
		if err := transcriptHTML.Execute(&buf, tr); err != nil {
			s.writeError(w, r, err)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", cspTranscript)
		h.Set("Content-Disposition", `attachment; filename="conversation-`+room.Consumer+`.html"`)
		w.Write(buf.Bytes())
	default:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="conversation-`+room.Consumer+`.txt"`)
		w.Write([]byte(tr.text()))
	}
}
