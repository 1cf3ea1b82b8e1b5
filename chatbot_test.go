package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// A 1×1 PNG, and the first bytes of the other accepted formats.
var (
	tinyPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
	tinyGIF    = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	tinyJPEG   = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), make([]byte, 64)...)
	tinyWebP   = []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + strings.Repeat("\x00", 24))
)

func TestChatbotDefaultsAndUpdate(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	c.must(http.StatusUnauthorized, "GET", "/chatbot/api", nil)
	c.must(http.StatusUnauthorized, "POST", "/chatbot/api", map[string]string{"chatbotName": "x"})
	c.signup("acme")

	r := c.must(200, "GET", "/chatbot/api", nil)
	bot := r.JSON["chatbot_details"].(map[string]any)
	if r.JSON["detail"] != "success" || bot["chatbotName"] != "acme" || bot["bot_picture"] != "" {
		t.Fatalf("defaults: %s", r.Body)
	}
	for _, f := range chatbotFields {
		v, ok := bot[f.json].(string)
		if !ok {
			t.Errorf("field %s missing", f.json)
		}
		if f.color && !colorRE.MatchString(v) {
			t.Errorf("default %s=%q is not a color", f.json, v)
		}
	}

	// Partial update: absent fields keep their value; read-only and
	// unknown fields are ignored.
	r = c.must(200, "POST", "/chatbot/api", map[string]any{
		"chatbotName": "  Acme Support ", "headerBackgroundColor": "#ABC", "senderBackground": "#112233",
		"bot_picture": "https://evil.example/x.png", "author": "ignored"})
	got := r.JSON["chatbot_details"].(map[string]any)
	if got["chatbotName"] != "Acme Support" || got["headerBackgroundColor"] != "#ABC" || got["senderBackground"] != "#112233" {
		t.Errorf("update: %s", r.Body)
	}
	if got["bot_picture"] != "" || got["introductionText"] != bot["introductionText"] || got["inputTextColor"] != bot["inputTextColor"] {
		t.Errorf("update touched other fields: %s", r.Body)
	}
	r = c.must(200, "GET", "/chatbot/api", nil)
	if r.JSON["chatbot_details"].(map[string]any)["chatbotName"] != "Acme Support" {
		t.Errorf("update not stored: %s", r.Body)
	}
	// A browser form posts strings.
	c.must(200, "POST", "/chatbot/api", "introductionText=Welcome%21&background_color=%23fff")
	r = c.must(200, "GET", "/chatbot/details/ACME", nil)
	pub := r.JSON["chatbot"].(map[string]any)
	if pub["introductionText"] != "Welcome!" || pub["background_color"] != "#fff" || r.JSON["online"] != false {
		t.Errorf("public details: %s", r.Body)
	}
	if r.Header.Get("Set-Cookie") != "" {
		t.Error("public details set a cookie")
	}
}

func TestChatbotValidation(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	c.signup("acme")
	before := c.must(200, "GET", "/chatbot/api", nil).Body
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"named color", map[string]any{"headerTextColor": "red"}, "headerTextColor"},
		{"4 digits", map[string]any{"headerTextColor": "#abcd"}, "headerTextColor"},
		{"not hex", map[string]any{"senderTextColor": "#ggg"}, "senderTextColor"},
		{"no hash", map[string]any{"background_color": "ffffff"}, "background_color"},
		{"css injection", map[string]any{"inputBarBackground": "#fff;background:url(x)"}, "inputBarBackground"},
		{"rgb()", map[string]any{"receiverBackground": "rgb(1,2,3)"}, "receiverBackground"},
		{"empty name", map[string]any{"chatbotName": "   "}, "chatbotName"},
		{"long name", map[string]any{"chatbotName": strings.Repeat("n", 65)}, "chatbotName"},
		{"long intro", map[string]any{"introductionText": strings.Repeat("i", 501)}, "introductionText"},
		{"number", map[string]any{"chatbotName": 5}, "chatbotName"},
		{"one bad among good", map[string]any{"chatbotName": "Fine", "introductionTextColor": "blue"}, "introductionTextColor"},
		// Control characters (issue 12, finding 11).
		{"NUL in name", map[string]any{"chatbotName": "Acme\x00Support"}, "chatbotName"},
		{"escape in name", map[string]any{"chatbotName": "Acme \x1b[31mSupport"}, "chatbotName"},
		{"newline in name", map[string]any{"chatbotName": "Acme\nSupport"}, "chatbotName"},
		{"DEL in name", map[string]any{"chatbotName": "Acme\x7f"}, "chatbotName"},
		{"C1 control in name", map[string]any{"chatbotName": "Acme\u0085Support"}, "chatbotName"},
		{"line separator in name", map[string]any{"chatbotName": "Acme\u2028Support"}, "chatbotName"},
		{"bell in intro", map[string]any{"introductionText": "Hello\x07"}, "introductionText"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.must(http.StatusBadRequest, "POST", "/chatbot/api", tc.body)
			if r.FieldError(tc.field) == "" {
				t.Errorf("no error for %s: %s", tc.field, r.Body)
			}
		})
	}
	if after := c.must(200, "GET", "/chatbot/api", nil).Body; !bytes.Equal(before, after) {
		t.Errorf("invalid updates changed the chatbot:\n%s\n%s", before, after)
	}
	// The limits themselves are fine; multi-byte characters count once.
	c.must(200, "POST", "/chatbot/api", map[string]any{"chatbotName": strings.Repeat("é", 64), "introductionText": strings.Repeat("ü", 500)})
	c.must(200, "POST", "/chatbot/api", map[string]any{"introductionText": ""})
	// Line breaks and tabs are text in the introduction.
	r := c.must(200, "POST", "/chatbot/api", map[string]any{"introductionText": "Hello!\nWe answer\tfast.\r\nAsk away."})
	if got := r.JSON["chatbot_details"].(map[string]any)["introductionText"]; got != "Hello!\nWe answer\tfast.\r\nAsk away." {
		t.Errorf("introductionText = %q", got)
	}
}

func TestChatbotPicture(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	anon := ts.client()
	body, ctype := multipartBody(t, "picture", "p.png", tinyPNG)
	anon.must(http.StatusUnauthorized, "POST", "/chatbot/api/picture", body, "Content-Type", ctype)
	c.signup("acme")
	c.must(http.StatusNotFound, "GET", "/chatbot/acme/picture", nil)

	// PNG last: it is the one that stays.
	for i, data := range [][]byte{tinyGIF, tinyJPEG, tinyWebP, tinyPNG} {
		name := []string{"gif", "jpeg", "webp", "png"}[i]
		body, ctype := multipartBody(t, "picture", "whatever.bin", data)
		r := c.must(200, "POST", "/chatbot/api/picture", body, "Content-Type", ctype)
		if url, _ := r.JSON["chatbot_details"].(map[string]any)["bot_picture"].(string); !strings.HasPrefix(url, "/chatbot/acme/picture?v=") {
			t.Errorf("%s: bot_picture %q", name, url)
		}
	}
	r := c.must(200, "GET", "/chatbot/api", nil)
	url := r.JSON["chatbot_details"].(map[string]any)["bot_picture"].(string)
	pic := anon.must(200, "GET", url, nil)
	if !bytes.Equal(pic.Body, tinyPNG) || pic.Header.Get("Content-Type") != "image/png" {
		t.Errorf("picture: %q %d bytes", pic.Header.Get("Content-Type"), len(pic.Body))
	}
	if cc := pic.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		t.Errorf("versioned picture Cache-Control %q", cc)
	}
	etag := pic.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	anon.must(http.StatusNotModified, "GET", "/chatbot/acme/picture", nil, "If-None-Match", etag)
	if pic.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("picture without nosniff")
	}

	// Sniffed by content, not by name: text named .png is refused and the
	// stored picture stays.
	body, ctype = multipartBody(t, "picture", "evil.png", []byte("<script>alert(1)</script> not an image at all"))
	r = c.must(http.StatusBadRequest, "POST", "/chatbot/api/picture", body, "Content-Type", ctype)
	if r.FieldError("picture") == "" {
		t.Errorf("400 body %s", r.Body)
	}
	body, ctype = multipartBody(t, "picture", "svg.png", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	c.must(http.StatusBadRequest, "POST", "/chatbot/api/picture", body, "Content-Type", ctype)
	// Over 1 MiB: 413.
	big := append(append([]byte{}, tinyPNG...), make([]byte, 1<<20)...)
	body, ctype = multipartBody(t, "picture", "big.png", big)
	c.must(http.StatusRequestEntityTooLarge, "POST", "/chatbot/api/picture", body, "Content-Type", ctype)
	// Wrong field name, or not multipart at all: 400.
	body, ctype = multipartBody(t, "photo", "p.png", tinyPNG)
	c.must(http.StatusBadRequest, "POST", "/chatbot/api/picture", body, "Content-Type", ctype)
	c.must(http.StatusBadRequest, "POST", "/chatbot/api/picture", map[string]string{"picture": "x"})
	if got := anon.must(200, "GET", "/chatbot/acme/picture", nil).Body; !bytes.Equal(got, tinyPNG) {
		t.Error("a refused upload replaced the picture")
	}

	r = c.must(200, "DELETE", "/chatbot/api/picture", nil)
	if r.JSON["chatbot_details"].(map[string]any)["bot_picture"] != "" {
		t.Errorf("after delete: %s", r.Body)
	}
	anon.must(http.StatusNotFound, "GET", "/chatbot/acme/picture", nil)
}

func TestHealthz(t *testing.T) {
	ts := newTestServer(t)
	r := ts.client().must(200, "GET", "/healthz", nil)
	if string(r.Body) != "ok" {
		t.Errorf("healthz body %q", r.Body)
	}
	ts.DB.reader.Close()
	r = ts.client().do("GET", "/healthz", nil)
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("healthz with the database closed: %d", r.Status)
	}
}
