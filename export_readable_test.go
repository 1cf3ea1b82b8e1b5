package main

import (
	"net/http"
	"strings"
	"testing"
)

// The readable exports: HTML (escaped by html/template, an attachment with
// a script-free CSP) and plain text; an unknown format is refused; only
// the business may export.
func TestExportReadable(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/chat/acme/reader", nil)
	hostile := `<script>alert("x")</script> & <b>bold</b>`
	vis.say(hostile)
	vis.say("line one\nline two")
	adminChat := ts.dialWS("/ws/chat/acme/reader", admin)
	adminChat.say("Happy to help!")
	if r, _ := ts.upload(admin, "acme reader", "notes.txt", []byte("some notes")); r.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", r.StatusCode)
	}

	r := admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/reader/export?format=html", nil)
	h := r.Header
	if got := h.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := h.Get("Content-Disposition"); got != `attachment; filename="conversation-reader.html"` {
		t.Errorf("Content-Disposition %q", got)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || !strings.Contains(csp, "sandbox") {
		t.Errorf("CSP %q", csp)
	}
	body := string(r.Body)
	if strings.Contains(body, "<script>") || strings.Contains(body, "<b>bold") {
		t.Errorf("visitor text not escaped:\n%s", body)
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;", "line one\nline two", "Happy to help!", "File: notes.txt — " + ts.URL + "/files/", "Conversation with Visitor", "acme"} {
		if !strings.Contains(body, want) {
			t.Errorf("HTML transcript lacks %q:\n%s", want, body)
		}
	}

	r = admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/reader/export?format=text", nil)
	if got := r.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("text Content-Type %q", got)
	}
	if got := r.Header.Get("Content-Disposition"); got != `attachment; filename="conversation-reader.txt"` {
		t.Errorf("text Content-Disposition %q", got)
	}
	text := string(r.Body)
	for _, want := range []string{"Conversation with Visitor\n", "] Visitor:\n    " + hostile + "\n", "    line one\n    line two\n", "] acme:\n    Happy to help!\n", "    File: notes.txt — " + ts.URL + "/files/"} {
		if !strings.Contains(text, want) {
			t.Errorf("text transcript lacks %q:\n%s", want, text)
		}
	}
	// JSON stays the default.
	r = admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/reader/export", nil)
	if r.JSON["consumer"] != "reader" {
		t.Errorf("JSON export = %v", r.JSON)
	}
	admin.must(http.StatusOK, "GET", "/chatbot/api/rooms/reader/export?format=json", nil)
	if r := admin.must(http.StatusBadRequest, "GET", "/chatbot/api/rooms/reader/export?format=pdf", nil); r.FieldError("format") == "" {
		t.Errorf("bad format: %s", r.Body)
	}
	ts.client().must(http.StatusUnauthorized, "GET", "/chatbot/api/rooms/reader/export?format=html", nil)
	admin.must(http.StatusNotFound, "GET", "/chatbot/api/rooms/nobody/export?format=text", nil)
}
