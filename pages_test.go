package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestPages(t *testing.T) {
	ts := newTestServer(t)
	anon := ts.client()
	admin := ts.client().signup("acme")

	tests := []struct {
		name       string
		client     *testClient
		path       string
		wantStatus int
		wantLoc    string // redirect target
		wantBody   string
		frameable  bool
	}{
		{"landing", anon, "/", 200, "", "Create your account", false},
		{"landing signed in", admin, "/", 200, "", "Open your inbox", false},
		{"signin", anon, "/signin", 200, "", `data-endpoint="/accounts/api/login"`, false},
		{"signup", anon, "/signup", 200, "", `data-endpoint="/accounts/api/signup"`, false},
		{"signin signed in", admin, "/signin", 303, "/messages", "", false},
		{"signup signed in", admin, "/signup", 303, "/messages", "", false},
		{"inbox signed out", anon, "/messages", 303, "/signin", "", false},
		{"settings signed out", anon, "/settings", 303, "/signin", "", false},
		{"inbox", admin, "/messages", 200, "", `data-username="acme"`, false},
		{"inbox slash", admin, "/messages/", 200, "", `data-username="acme"`, false},
		{"settings", admin, "/settings", 200, "", `id="preview"`, false},
		{"visitor", anon, "/chatbot/acme/abc-123", 200, "", `data-consumer="abc-123"`, true},
		{"visitor uppercase", anon, "/chatbot/ACME/abc-123", 200, "", `data-username="acme"`, true},
		{"visitor unknown", anon, "/chatbot/nobody/abc-123", 404, "", "There is no chat here", true},
		{"visitor bad consumer", anon, "/chatbot/acme/" + strings.Repeat("x", 65), 404, "", "not valid", true},
		{"unknown page", anon, "/no/such/page", 404, "", "Page not found", false},
		{"unknown static", anon, "/static/nope.css", 404, "", "Page not found", false},
		{"template not served", anon, "/static/landing.html", 404, "", "Page not found", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.client.do("GET", tt.path, nil)
			body := string(resp.Body)
			if got, want := resp.Status, tt.wantStatus; got != want {
				t.Fatalf("status=%d, want %d", got, want)
			}
			if tt.wantLoc != "" {
				if got := resp.Header.Get("Location"); got != tt.wantLoc {
					t.Fatalf("Location=%q, want %q", got, tt.wantLoc)
				}
				return
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Fatalf("body lacks %q", tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type=%q", ct)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP=%q: want script-src 'self' and no unsafe-inline", csp)
			}
			xfo := resp.Header.Get("X-Frame-Options")
			// The visitor window's one <style> is allowed by a fresh nonce.
			if m := regexp.MustCompile(` 'nonce-([A-Za-z0-9_-]{20,})'`).FindStringSubmatch(csp); m != nil {
				if !strings.Contains(body, `<style nonce="`+m[1]+`">`) {
					t.Errorf("CSP nonce %q is not the page's <style> nonce", m[1])
				}
				csp = strings.Replace(csp, m[0], "", 1)
			}
			if tt.frameable {
				if csp != cspFrameable || xfo != "" {
					t.Errorf("frameable page: CSP=%q X-Frame-Options=%q", csp, xfo)
				}
			} else if !strings.Contains(csp, "frame-ancestors 'none'") || xfo != "DENY" {
				t.Errorf("page must refuse framing: CSP=%q X-Frame-Options=%q", csp, xfo)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") || strings.Contains(body, " style=\"") {
				t.Errorf("page has inline script or style")
			}
		})
	}
}

// The visitor window carries the chatbot's text escaped: a chatbot name
// with markup is shown as text.
func TestVisitorPageEscapes(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client().signup("acme")
	resp, err := admin.HTTP.Post(ts.URL+"/chatbot/api", "application/json",
		strings.NewReader(`{"chatbotName":"<img src=x onerror=alert(1)>","introductionText":"\"'><script>alert(1)</script>"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("update chatbot: %d", resp.StatusCode)
	}
	body := string(ts.client().do("GET", "/chatbot/acme/v1", nil).Body)
	for _, bad := range []string{"<img src=x", "<script>alert"} {
		if strings.Contains(body, bad) {
			t.Errorf("visitor page contains unescaped %q", bad)
		}
	}
	if !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("visitor page lacks the escaped name")
	}
}

func TestStaticAssets(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	for _, p := range []string{"/static/css/app.css", "/static/css/chat.css", "/static/js/messages.js", "/static/js/conversation.js", "/static/js/inbox.js", "/static/js/roomlist.js",
		"/static/js/chat.js", "/static/js/settings.js", "/static/js/auth.js", "/static/img/icon.svg"} {
		resp := c.do("GET", p, nil)
		if resp.Status != 200 || len(resp.Body) == 0 {
			t.Fatalf("%s: status %d", p, resp.Status)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("%s: ETag=%q Cache-Control=%q", p, etag, resp.Header.Get("Cache-Control"))
		}
		if strings.HasSuffix(p, ".js") && resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("%s: Content-Type=%q", p, resp.Header.Get("Content-Type"))
		}
		if resp2 := c.do("GET", p, nil, "If-None-Match", etag); resp2.Status != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: status %d, want 304", p, resp2.Status)
		}
	}
}

func TestWidgetJS(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.client().do("GET", "/widget.js", nil)
	body := string(resp.Body)
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	for h, want := range map[string]string{
		"Content-Type":                 "text/javascript; charset=utf-8",
		"Access-Control-Allow-Origin":  "*",
		"Cross-Origin-Resource-Policy": "cross-origin",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s=%q, want %q", h, got, want)
		}
	}
	if len(body) > 8<<10 {
		t.Errorf("widget.js is %d bytes; keep it small", len(body))
	}
	if !strings.HasPrefix(strings.TrimSpace(body[strings.Index(body, "*/")+2:]), "(function") {
		t.Errorf("widget.js must be one IIFE (no globals)")
	}
	// It is not also served under /static/.
	if resp := ts.client().do("GET", "/static/widget.js", nil); resp.Status != 404 {
		t.Errorf("/static/widget.js: status %d, want 404", resp.Status)
	}
}

// With a picture, the visitor window is rendered showing the picture and
// not also the letter avatar (which the script would hide only later).
func TestVisitorPagePictureAvatar(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client().signup("acme")
	body := string(ts.client().do("GET", "/chatbot/acme/v1", nil).Body)
	if !strings.Contains(body, `id="avatar-initial" aria-hidden="true">a<`) || !strings.Contains(body, `id="avatar-img" alt="" hidden>`) {
		t.Errorf("without a picture: want the letter shown and the image hidden")
	}
	pagesStyle(t, admin, ts.URL, `{"chatbotName":"Acme"}`)
	body = string(ts.client().do("GET", "/chatbot/acme/v1", nil).Body)
	if !strings.Contains(body, `id="avatar-initial" aria-hidden="true" hidden>A<`) {
		t.Errorf("with a picture, the letter avatar is not hidden")
	}
	if !strings.Contains(body, `id="avatar-img" alt="" src="/chatbot/acme/picture?v=`) {
		t.Errorf("with a picture, the image is not shown")
	}
}
