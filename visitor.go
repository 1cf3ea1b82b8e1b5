package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mileusna/useragent"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Who the visitor is (issue 9): what the visitor window reports with the
// "visitor" command (page, title, referrer, language, timezone, name),
// what the chat socket's upgrade says (browser and OS from the
// User-Agent, the country from an operator-supplied GeoIP file), kept in
// the visitors table (schema_search.sql), one row a room. No IP address
// is stored: the country is looked up in memory and only its code kept.

// VisitorPage is one page the visitor had the chat open on.
type VisitorPage struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	At    string `json:"at"`
}

// Visitor is SPEC's Visitor. Email is the room's consumer_email.
type Visitor struct {
	Name      string        `json:"name"`
	Email     string        `json:"email"`
	PageURL   string        `json:"page_url"`
	PageTitle string        `json:"page_title"`
	Referrer  string        `json:"referrer"`
	Language  string        `json:"language"`
	Timezone  string        `json:"timezone"`
	Browser   string        `json:"browser"`
	OS        string        `json:"os"`
	Country   string        `json:"country"`
	FirstSeen string        `json:"first_seen"`
	LastSeen  string        `json:"last_seen"`
	Pages     []VisitorPage `json:"pages"`
}

// maxVisitorField is the longest field of the visitor command, in
// characters; maxVisitorPages how many pages a visitor keeps.
const (
	maxVisitorField = 2000
	maxVisitorPages = 20
)

// storedPage is a pages entry as the visitors table keeps it (at: Unix ms).
type storedPage struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	At    int64  `json:"at"`
}

const visitorColumns = "v.room_id, v.name, r.consumer_email, v.page_url, v.page_title, v.referrer, v.language, v.timezone, v.browser, v.os, v.country, v.first_seen, v.last_seen, v.pages"

func scanVisitor(row interface{ Scan(...any) error }) (int64, *Visitor, error) {
	var v Visitor
	var roomID, first, last int64
	var pages string
	if err := row.Scan(&roomID, &v.Name, &v.Email, &v.PageURL, &v.PageTitle, &v.Referrer, &v.Language, &v.Timezone,
		&v.Browser, &v.OS, &v.Country, &first, &last, &pages); err != nil {
		return 0, nil, err
	}
	v.FirstSeen, v.LastSeen = formatTime(first), formatTime(last)
	var stored []storedPage
	_ = json.Unmarshal([]byte(pages), &stored)
	v.Pages = make([]VisitorPage, len(stored))
	for i, p := range stored {
		v.Pages[i] = VisitorPage{URL: p.URL, Title: p.Title, At: formatTime(p.At)}
	}
	return roomID, &v, nil
}

// VisitorOf returns a room's visitor, or nil when nothing is known.
func (db *DB) VisitorOf(ctx context.Context, roomID int64) (*Visitor, error) {
	_, v, err := scanVisitor(db.reader.QueryRowContext(ctx,
		"SELECT "+visitorColumns+" FROM visitors v JOIN rooms r ON r.id = v.room_id WHERE v.room_id = ?", roomID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// attachVisitors fills in the Visitor of each room that has one: one
// query for the page.
func (db *DB) attachVisitors(ctx context.Context, rooms []*roomRow) error {
	if len(rooms) == 0 {
		return nil
	}
	byID := make(map[int64]*roomRow, len(rooms))
	args := make([]any, len(rooms))
	for i, r := range rooms {
		byID[r.ID] = r
		args[i] = r.ID
	}
	rows, err := db.reader.QueryContext(ctx, "SELECT "+visitorColumns+
		" FROM visitors v JOIN rooms r ON r.id = v.room_id WHERE v.room_id IN (?"+strings.Repeat(",?", len(rooms)-1)+")", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		id, v, err := scanVisitor(rows)
		if err != nil {
			return err
		}
		if r := byID[id]; r != nil {
			r.Visitor = v
		}
	}
	return rows.Err()
}

// SeeVisitor records a visitor socket's upgrade: browser, OS and country
// (each kept when the new value is empty), last_seen. It reports whether
// a visitor already known now shows another browser, OS or country (a
// new visitor is announced by its window's visitor command instead).
func (db *DB) SeeVisitor(ctx context.Context, roomID int64, browser, os, country string, now int64) (changed bool, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var oldBrowser, oldOS, oldCountry string
		err := tx.QueryRowContext(ctx, "SELECT browser, os, country FROM visitors WHERE room_id = ?", roomID).Scan(&oldBrowser, &oldOS, &oldCountry)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, "INSERT INTO visitors (room_id, browser, os, country, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
				roomID, browser, os, country, now, now)
			return err
		case err != nil:
			return err
		}
		keep := func(v, old string) string {
			if v == "" {
				return old
			}
			return v
		}
		browser, os, country = keep(browser, oldBrowser), keep(os, oldOS), keep(country, oldCountry)
		changed = browser != oldBrowser || os != oldOS || country != oldCountry
		_, err = tx.ExecContext(ctx, "UPDATE visitors SET browser = ?, os = ?, country = ?, last_seen = ? WHERE room_id = ?",
			browser, os, country, now, roomID)
		return err
	})
	return changed, err
}

// visitorReport is a validated visitor command.
type visitorReport struct {
	PageURL, PageTitle, Referrer, Language, Timezone string
	Name                                             *string // nil: not given
}

// ReportVisitor stores what the visitor window reported: the page becomes
// the current one and joins pages (unless it is the last one already).
func (db *DB) ReportVisitor(ctx context.Context, roomID int64, rep *visitorReport, now int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var pagesJSON, name string
		err := tx.QueryRowContext(ctx, "SELECT pages, name FROM visitors WHERE room_id = ?", roomID).Scan(&pagesJSON, &name)
		if errors.Is(err, sql.ErrNoRows) {
			pagesJSON = "[]"
		} else if err != nil {
			return err
		}
		var pages []storedPage
		_ = json.Unmarshal([]byte(pagesJSON), &pages)
		if rep.PageURL != "" {
			if n := len(pages); n > 0 && pages[n-1].URL == rep.PageURL {
				pages[n-1].Title, pages[n-1].At = rep.PageTitle, now
			} else {
				pages = append(pages, storedPage{URL: rep.PageURL, Title: rep.PageTitle, At: now})
			}
			if len(pages) > maxVisitorPages {
				pages = pages[len(pages)-maxVisitorPages:]
			}
		}
		b, _ := json.Marshal(pages)
		if rep.Name != nil {
			name = *rep.Name
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO visitors (room_id, name, page_url, page_title, referrer, language, timezone, first_seen, last_seen, pages)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (room_id) DO UPDATE SET name = excluded.name, page_url = excluded.page_url,
				page_title = excluded.page_title, referrer = excluded.referrer, language = excluded.language,
				timezone = excluded.timezone, last_seen = excluded.last_seen, pages = excluded.pages`,
			roomID, name, rep.PageURL, rep.PageTitle, rep.Referrer, rep.Language, rep.Timezone, now, now, string(b))
		return err
	})
}

// parseVisitorCommand validates a visitor frame: every field a string of
// at most maxVisitorField characters without control characters, the
// URLs http(s) (or empty), the timezone an IANA name (or empty). The
// problem is "" when the frame is good.
func parseVisitorCommand(data []byte) (*visitorReport, string) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return nil, "The frame must be a JSON object."
	}
	var rep visitorReport
	fields := []struct {
		name string
		dst  *string
	}{{"page_url", &rep.PageURL}, {"page_title", &rep.PageTitle}, {"referrer", &rep.Referrer},
		{"language", &rep.Language}, {"timezone", &rep.Timezone}, {"name", nil}}
	for _, f := range fields {
		v, ok := raw[f.name]
		if !ok || string(v) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, fmt.Sprintf("%q must be a string.", f.name)
		}
		s = strings.TrimSpace(s)
		if utf8.RuneCountInString(s) > maxVisitorField {
			return nil, fmt.Sprintf("%q must be at most %d characters.", f.name, maxVisitorField)
		}
		if p := controlProblem(s, false); p != "" {
			return nil, fmt.Sprintf("%q %s", f.name, p)
		}
		if f.dst == nil {
			rep.Name = &s
		} else {
			*f.dst = s
		}
	}
	for _, u := range []struct{ name, v string }{{"page_url", rep.PageURL}, {"referrer", rep.Referrer}} {
		if u.v != "" && !httpURL(u.v) {
			return nil, fmt.Sprintf("%q must be an http or https URL.", u.name)
		}
	}
	if rep.Timezone != "" {
		if _, err := time.LoadLocation(rep.Timezone); err != nil || rep.Timezone == "Local" {
			return nil, "\"timezone\" must be an IANA time zone like Europe/Paris."
		}
	}
	return &rep, ""
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// visitorFrame tells agent sockets that a room's visitor changed.
type visitorFrame struct {
	Command  string   `json:"command"`
	Consumer string   `json:"consumer"`
	Visitor  *Visitor `json:"visitor"`
}

// cmdVisitor handles the visitor command (visitor chat sockets only).
func (s *Server) cmdVisitor(c *client, data []byte) bool {
	if c.admin {
		c.fail(codeForbidden, "Only the visitor's window reports who the visitor is.")
		return true
	}
	if refused, open := s.limited(c); refused {
		return open
	}
	rep, problem := parseVisitorCommand(data)
	if problem != "" {
		c.fail(codeBadField, problem)
		return true
	}
	if err := s.db.ReportVisitor(context.Background(), c.roomID, rep, s.db.now().UnixMilli()); err != nil {
		s.internal(c, "visitor", err)
		return true
	}
	s.publishVisitor(c)
	return true
}

// publishVisitor sends the room's visitor to the business's agent sockets.
func (s *Server) publishVisitor(c *client) {
	v, err := s.db.VisitorOf(context.Background(), c.roomID)
	if err != nil || v == nil {
		if err != nil {
			s.log.Error("visitor", "err", err)
		}
		return
	}
	s.hub.publish(c.userID, c.roomID, toAdmins, encodeFrame(visitorFrame{Command: "visitor", Consumer: c.consumer, Visitor: v}), nil)
}

// seeVisitor records a visitor socket's upgrade (browser, OS, country)
// and tells the agents.
func (s *Server) seeVisitor(c *client, userAgent, country string) {
	ua := useragent.Parse(userAgent)
	browser := strings.TrimSpace(ua.Name + " " + ua.Version)
	os := strings.TrimSpace(ua.OS + " " + ua.OSVersion)
	changed, err := s.db.SeeVisitor(context.Background(), c.roomID, clip(browser, 100), clip(os, 100), country, s.db.now().UnixMilli())
	if err != nil {
		s.log.Error("visitor: upgrade", "err", err)
		return
	}
	if changed {
		s.publishVisitor(c)
	}
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// geoIP looks countries up in a MaxMind DB file (GeoLite2-Country,
// GeoIP2-City, DB-IP's lite databases: anything with country.iso_code).
type geoIP struct {
	mu sync.RWMutex // Close against lookups
	r  *maxminddb.Reader
}

// checkGeoIP reports whether path (when given) opens as a MaxMind DB.
func checkGeoIP(path string) error {
	if path == "" {
		return nil
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return fmt.Errorf("--geoip: %w", err)
	}
	return r.Close()
}

func openGeoIP(path string, log *slog.Logger) *geoIP {
	if path == "" {
		return nil
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		log.Error("geoip: the visitor panel shows no countries", "err", err)
		return nil
	}
	return &geoIP{r: r}
}

// Country returns the ISO country code of addr, or "".
func (g *geoIP) Country(addr string) string {
	if g == nil {
		return ""
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.r == nil || g.r.Lookup(ip.Unmap()).Decode(&rec) != nil {
		return ""
	}
	return clip(rec.Country.ISOCode, 8)
}

func (g *geoIP) Close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.r != nil {
		g.r.Close()
		g.r = nil
	}
}
