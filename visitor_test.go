package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

const chromeWindowsUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.110 Safari/537.36"

// until reads frames until one with command arrives (others skipped).
func (c *wsClient) until(command string) frame {
	c.t.Helper()
	for range 50 {
		if f := c.next(); f.str("command") == command {
			return f
		}
	}
	c.t.Fatalf("%s: no %q frame in 50", c.name, command)
	return nil
}

// dialVisitor opens a visitor chat socket with a User-Agent.
func dialVisitor(ts *testServer, path, ua string) *wsClient {
	ts.t.Helper()
	c, _, err := ts.tryDial(path, nil, http.Header{"User-Agent": {ua}})
	if err != nil {
		ts.t.Fatal(err)
	}
	c.send("{}")
	c.expectError("unknown_command")
	return c
}

// TestVisitorCommand: the visitor window's report is validated, stored
// and sent to agent sockets only; browser and OS come from the upgrade's
// User-Agent; REST and fetch_rooms carry name and visitor.
func TestVisitorCommand(t *testing.T) {
	ts := newTestServer(t, chatConfig, noMessageRate)
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	agentChat := ts.dialWS("/ws/chat/acme/v1", admin)

	// A new visitor is announced by its window's report (below), which
	// carries what the upgrade's User-Agent said.
	v := dialVisitor(ts, "/ws/chat/acme/v1", chromeWindowsUA)
	report := map[string]any{"command": "visitor", "page_url": "https://shop.example/bread?x=1", "page_title": "Bread <b>",
		"referrer": "https://search.example/?q=gluten", "language": "fr-FR", "timezone": "Europe/Paris", "name": "Zoë"}
	v.send(report)
	f := inbox.until("visitor")
	vis := f["visitor"].(map[string]any)
	if got := agentChat.until("visitor"); got.str("consumer") != "v1" {
		t.Fatalf("agent chat socket: %v", got)
	}
	if f.str("consumer") != "v1" || vis["os"] != "Windows 10.0" || vis["country"] != "" {
		t.Fatalf("visitor frame = %v", f)
	}
	if vis["name"] != "Zoë" || vis["page_url"] != "https://shop.example/bread?x=1" || vis["page_title"] != "Bread <b>" ||
		vis["referrer"] != "https://search.example/?q=gluten" || vis["language"] != "fr-FR" || vis["timezone"] != "Europe/Paris" ||
		vis["browser"] != "Chrome 120.0.6099.110" {
		t.Fatalf("visitor after report = %v", vis)
	}
	if pages := vis["pages"].([]any); len(pages) != 1 || pages[0].(map[string]any)["url"] != "https://shop.example/bread?x=1" {
		t.Fatalf("pages = %v", pages)
	}
	// The visitor's own socket hears nothing of it.
	v.probe()

	// Bad fields: an error frame, and nothing changes.
	for _, bad := range []map[string]any{
		{"page_url": "javascript:alert(1)"},
		{"page_url": "ftp://example.com/"},
		{"page_url": "/relative"},
		{"referrer": "data:text/html,hi"},
		{"page_title": strings.Repeat("x", 2001)},
		{"name": 42},
		{"language": "en\nUS"},
		{"timezone": "Mars/Olympus"},
	} {
		bad["command"] = "visitor"
		v.send(bad)
		v.expectError("bad_field")
	}
	// A name stays when not given again; a new page joins pages, the
	// same page again does not.
	v.send(map[string]any{"command": "visitor", "page_url": "https://shop.example/cart", "page_title": "Cart"})
	vis = inbox.until("visitor")["visitor"].(map[string]any)
	if vis["name"] != "Zoë" || vis["page_url"] != "https://shop.example/cart" || len(vis["pages"].([]any)) != 2 {
		t.Fatalf("after second page: %v", vis)
	}
	v.send(map[string]any{"command": "visitor", "page_url": "https://shop.example/cart", "page_title": "Cart"})
	vis = inbox.until("visitor")["visitor"].(map[string]any)
	if len(vis["pages"].([]any)) != 2 {
		t.Fatalf("same page twice: %v", vis["pages"])
	}
	// 2000 characters is fine.
	v.send(map[string]any{"command": "visitor", "page_title": strings.Repeat("é", 2000), "page_url": "https://shop.example/cart"})
	inbox.until("visitor")

	// The same visitor back in another browser: the agents hear of it.
	v2 := dialVisitor(ts, "/ws/chat/acme/v1", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0")
	if vis = inbox.until("visitor")["visitor"].(map[string]any); vis["browser"] != "Firefox 121.0" || vis["name"] != "Zoë" {
		t.Fatalf("visitor in a new browser: %v", vis)
	}
	v2.conn.CloseNow()

	// Agents cannot send it.
	for _, c := range []*wsClient{agentChat, inbox} {
		c.send(map[string]any{"command": "visitor", "name": "Mallory"})
		if f := c.until("error"); f.str("error") != "forbidden" {
			t.Fatalf("%s: %v", c.name, f)
		}
	}

	// REST and fetch_rooms carry the name and the visitor.
	v.say("hello")
	r := admin.must(http.StatusOK, "GET", "/chatbot/api/rooms", nil)
	room := r.JSON["rooms"].([]any)[0].(map[string]any)
	if room["name"] != "Zoë" || room["visitor"].(map[string]any)["browser"] != "Firefox 121.0" {
		t.Fatalf("REST room = %v", room)
	}
	inbox.send(map[string]any{"command": "fetch_rooms"})
	rooms := inbox.until("rooms")["rooms"].([]any)
	if rr := rooms[0].(map[string]any); rr["name"] != "Zoë" || rr["visitor"].(map[string]any)["page_url"] != "https://shop.example/cart" {
		t.Fatalf("fetch_rooms room = %v", rr)
	}
	// The name is searchable.
	if contents, consumers, _ := searchHits(t, admin, "zoe", ""); len(contents) != 1 || consumers[0] != "v1" {
		t.Errorf("search by name: %q %q", contents, consumers)
	}
	// Another business sees none of it.
	other := ts.client().signup("other")
	r = other.must(http.StatusOK, "GET", "/chatbot/api/rooms", nil)
	if rooms, _ := r.JSON["rooms"].([]any); len(rooms) != 0 {
		t.Errorf("other business sees %v", rooms)
	}
	if contents, _, _ := searchHits(t, other, "zoe", ""); len(contents) != 0 {
		t.Errorf("other business finds %q", contents)
	}
}

// TestUserAgentParsing: the library names common browsers and systems.
func TestUserAgentParsing(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
	cases := []struct{ ua, browser, os string }{
		{chromeWindowsUA, "Chrome 120.0.6099.110", "Windows 10.0"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari 17.1", "iOS 17.1"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121.0", "Linux x86_64"},
		{"", "", ""},
	}
	for i, c := range cases {
		consumer := "ua" + string(rune('a'+i))
		dialVisitor(ts, "/ws/chat/acme/"+consumer, c.ua).conn.CloseNow()
	}
	for i, c := range cases {
		var browser, os string
		err := ts.DB.reader.QueryRow(`SELECT browser, os FROM visitors v JOIN rooms r ON r.id = v.room_id WHERE r.consumer = ?`,
			"ua"+string(rune('a'+i))).Scan(&browser, &os)
		if err != nil {
			t.Fatalf("%q: %v", c.ua, err)
		}
		if browser != c.browser || os != c.os {
			t.Errorf("%q: browser %q os %q, want %q %q", c.ua, browser, os, c.browser, c.os)
		}
	}
}

// writeTestMMDB builds a tiny MaxMind DB: 127.0.0.0/8 is in France.
func writeTestMMDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-Country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, loop, _ := net.ParseCIDR("127.0.0.0/8")
	if err := tree.Insert(loop, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "country.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVisitorCountryNoIPStored: with --geoip the country comes from the
// database; the address it was looked up by is in neither file.
func TestVisitorCountryNoIPStored(t *testing.T) {
	mmdb := writeTestMMDB(t)
	if err := checkGeoIP(mmdb); err != nil {
		t.Fatal(err)
	}
	if err := checkGeoIP(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Error("a missing --geoip file is accepted")
	}
	ts := newTestServer(t, chatConfig, func(c *Config) { c.GeoIP = mmdb })
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	v := dialVisitor(ts, "/ws/chat/acme/v1", chromeWindowsUA)
	v.send(map[string]any{"command": "visitor", "page_url": "https://shop.example/", "name": "Ann"})
	if vis := inbox.until("visitor")["visitor"].(map[string]any); vis["country"] != "FR" {
		t.Fatalf("country = %v", vis["country"])
	}
	v.say("hello from 127")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(ts.Path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("127.0.0.1")) {
			t.Errorf("livechat.db%s holds the address 127.0.0.1", suffix)
		}
	}
	// The visitor's data is there (the grep looks at the right file).
	b, _ := os.ReadFile(ts.Path + "-wal")
	a, _ := os.ReadFile(ts.Path)
	if !bytes.Contains(append(a, b...), []byte("https://shop.example/")) {
		t.Error("the visitor's page is in neither file: the grep proves nothing")
	}
}

// TestVisitorCommandRateLimited: the report counts against the socket's
// message rate like any frame that writes.
func TestVisitorCommandRateLimited(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.RateMessages = 2; c.RateWindow = time.Hour; c.PingInterval = time.Minute })
	admin := ts.client().signup("acme")
	inbox := ts.dialWS("/ws/room/acme", admin)
	v := dialVisitor(ts, "/ws/chat/acme/v1", chromeWindowsUA)
	for i := range 2 {
		v.send(map[string]any{"command": "visitor", "page_url": fmt.Sprintf("https://shop.example/%d", i)})
		inbox.until("visitor")
	}
	v.send(map[string]any{"command": "visitor", "page_url": "https://shop.example/2"})
	v.expectError("rate_limited")
	vis, err := ts.DB.VisitorOf(context.Background(), 1)
	if err != nil || vis == nil || vis.PageURL != "https://shop.example/1" {
		t.Fatalf("after the refused report: %+v, %v", vis, err)
	}
}
