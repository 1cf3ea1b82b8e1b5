package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mustHours(t *testing.T, js string) *Hours {
	t.Helper()
	h, errs := parseHours(json.RawMessage(js))
	if len(errs) > 0 {
		t.Fatalf("parseHours(%s): %v", js, errs)
	}
	return h
}

// at parses an RFC 3339 time.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHoursValidation: what the owner may set, and a field error for
// each mistake.
func TestHoursValidation(t *testing.T) {
	for _, good := range []string{
		`null`,
		`{"timezone":"Europe/Paris","week":{}}`,
		`{"timezone":"UTC","week":{"mon":[["09:00","17:00"]],"sun":[]}}`,
		`{"timezone":"America/New_York","week":{"mon":[["09:00","12:00"],["13:00","17:30"]],"tue":null}}`,
		`{"timezone":"Asia/Kolkata","week":{"fri":[["22:00","02:00"]],"sat":[["02:00","04:00"]]}}`,
		`{"timezone":"Europe/Paris","week":{"mon":[["00:00","24:00"]],"tue":[["18:00","00:00"]]}}`,
		`{"timezone":"Europe/Paris","week":{"sun":[["23:00","01:00"]],"mon":[["01:00","05:00"]]}}`,
	} {
		if _, errs := parseHours(json.RawMessage(good)); len(errs) > 0 {
			t.Errorf("%s refused: %v", good, errs)
		}
	}
	for _, bad := range []struct{ js, field, says string }{
		{`"9 to 5"`, "hours", "null"},
		{`[]`, "hours", "null"},
		{`{"timezone":"UTC","week":{},"extra":1}`, "hours", "extra"},
		{`{"week":{}}`, "hours.timezone", "Required"},
		{`{"timezone":"Mars/Olympus","week":{}}`, "hours.timezone", "Mars/Olympus"},
		{`{"timezone":"Local","week":{}}`, "hours.timezone", "Local"},
		{`{"timezone":"UTC"}`, "hours.week", "Required"},
		{`{"timezone":"UTC","week":{"monday":[]}}`, "hours.week", "monday"},
		{`{"timezone":"UTC","week":{"mon":"9-17"}}`, "hours.week.mon", "list"},
		{`{"timezone":"UTC","week":{"mon":[["09:00"]]}}`, "hours.week.mon", "opening and a closing"},
		{`{"timezone":"UTC","week":{"mon":[["9:00","17:00"]]}}`, "hours.week.mon", "HH:MM"},
		{`{"timezone":"UTC","week":{"mon":[["09:00","24:30"]]}}`, "hours.week.mon", "HH:MM"},
		{`{"timezone":"UTC","week":{"mon":[["24:00","02:00"]]}}`, "hours.week.mon", "HH:MM"},
		{`{"timezone":"UTC","week":{"mon":[["09:60","17:00"]]}}`, "hours.week.mon", "HH:MM"},
		{`{"timezone":"UTC","week":{"mon":[["09:00","09:00"]]}}`, "hours.week.mon", "empty"},
		{`{"timezone":"UTC","week":{"tue":[["09:00","13:00"],["12:00","17:00"]]}}`, "hours.week.tue", "overlaps"},
		{`{"timezone":"UTC","week":{"tue":[["20:00","02:00"],["22:00","23:00"]]}}`, "hours.week.tue", "overlaps"},
		{`{"timezone":"UTC","week":{"sun":[["22:00","03:00"]],"mon":[["02:00","05:00"]]}}`, "hours.week.mon", "overnight"},
		{`{"timezone":"UTC","week":{"mon":[["00:00","01:00"],["01:00","02:00"],["02:00","03:00"],["03:00","04:00"],["04:00","05:00"],["05:00","06:00"],["06:00","07:00"],["07:00","08:00"],["08:00","09:00"]]}}`, "hours.week.mon", "At most 8"},
	} {
		h, errs := parseHours(json.RawMessage(bad.js))
		if h != nil || !strings.Contains(errs[bad.field], bad.says) {
			t.Errorf("%s: errors %v, want %s to mention %q", bad.js, errs, bad.field, bad.says)
		}
	}
}

// TestHoursJSON: the stored form is normalised (every day, sorted,
// midnight as 24:00) and reads back the same.
func TestHoursJSON(t *testing.T) {
	h := mustHours(t, `{"timezone":"Europe/Paris","week":{"mon":[["13:00","17:00"],["09:00","12:00"]],"fri":[["22:00","02:00"]],"sat":[["18:00","00:00"]]}}`)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timezone":"Europe/Paris","week":{"fri":[["22:00","02:00"]],"mon":[["09:00","12:00"],["13:00","17:00"]],"sat":[["18:00","24:00"]],"sun":[],"thu":[],"tue":[],"wed":[]}}`
	if string(b) != want {
		t.Errorf("marshal:\n%s\nwant\n%s", b, want)
	}
	var back Hours
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(&back); string(b2) != want {
		t.Errorf("round trip: %s", b2)
	}
	if b, _ := json.Marshal((*Hours)(nil)); string(b) != "null" {
		t.Errorf("nil hours: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"timezone":"UTC","week":{"mon":[["09:00","09:00"]]}}`), &back); err == nil {
		t.Error("invalid stored hours read without error")
	}
}

// TestHoursOpenAndNext: a Paris office week; boundaries are [open, close).
func TestHoursOpenAndNext(t *testing.T) {
	h := mustHours(t, `{"timezone":"Europe/Paris","week":{"mon":[["09:00","12:00"],["13:00","17:00"]],"tue":[["09:00","17:00"]],"wed":[["09:00","17:00"]],"thu":[["09:00","17:00"]],"fri":[["09:00","17:00"]]}}`)
	// 2026-06-10 is a Wednesday; Paris is UTC+2 in June.
	cases := []struct {
		now  string
		open bool
		next string
	}{
		{"2026-06-10T08:59:59+02:00", false, "2026-06-10T09:00:00+02:00"},
		{"2026-06-10T09:00:00+02:00", true, "2026-06-10T09:00:00+02:00"},
		{"2026-06-10T16:59:59+02:00", true, "2026-06-10T16:59:59+02:00"},
		{"2026-06-10T17:00:00+02:00", false, "2026-06-11T09:00:00+02:00"},
		{"2026-06-10T07:30:00Z", true, "2026-06-10T07:30:00Z"},            // 09:30 in Paris
		{"2026-06-12T17:00:00+02:00", false, "2026-06-15T09:00:00+02:00"}, // Friday evening → Monday
		{"2026-06-13T11:00:00+02:00", false, "2026-06-15T09:00:00+02:00"}, // Saturday
		{"2026-06-15T12:30:00+02:00", false, "2026-06-15T13:00:00+02:00"}, // Monday lunch
		{"2026-06-15T02:00:00-07:00", true, "2026-06-15T02:00:00-07:00"},  // 11:00 Paris
		{"2026-06-14T23:30:00-04:00", false, "2026-06-15T09:00:00+02:00"}, // 05:30 Monday in Paris
	}
	for _, c := range cases {
		now := at(t, c.now)
		if got := h.isOpen(now); got != c.open {
			t.Errorf("isOpen(%s) = %v", c.now, got)
		}
		next, ok := h.nextOpen(now)
		if !ok || !next.Equal(at(t, c.next)) {
			t.Errorf("nextOpen(%s) = %s %v, want %s", c.now, next.Format(time.RFC3339), ok, c.next)
		}
	}
	// closedSince: the end of the last span before now.
	for now, want := range map[string]string{
		"2026-06-10T20:00:00+02:00": "2026-06-10T17:00:00+02:00",
		"2026-06-15T08:00:00+02:00": "2026-06-12T17:00:00+02:00", // Monday morning: since Friday
		"2026-06-15T12:30:00+02:00": "2026-06-15T12:00:00+02:00", // lunch
	} {
		if got := h.closedSince(at(t, now)); !got.Equal(at(t, want)) {
			t.Errorf("closedSince(%s) = %s, want %s", now, got.Format(time.RFC3339), want)
		}
	}
	if got := h.closedSince(at(t, "2026-06-10T10:00:00+02:00")); !got.IsZero() {
		t.Errorf("closedSince while open = %s", got)
	}
}

// TestHoursOvernight: a span past midnight belongs to the day it starts,
// also from Sunday into Monday.
func TestHoursOvernight(t *testing.T) {
	h := mustHours(t, `{"timezone":"UTC","week":{"fri":[["22:00","02:00"]],"sun":[["20:00","01:30"]]}}`)
	// 2026-06-12 is a Friday.
	for now, open := range map[string]bool{
		"2026-06-12T21:59:00Z": false,
		"2026-06-12T22:00:00Z": true,
		"2026-06-13T01:59:59Z": true, // Saturday, Friday's span
		"2026-06-13T02:00:00Z": false,
		"2026-06-14T23:00:00Z": true,
		"2026-06-15T01:00:00Z": true, // Monday, Sunday's span
		"2026-06-15T01:30:00Z": false,
		"2026-06-11T01:00:00Z": false, // Thursday: no span the night before
	} {
		if got := h.isOpen(at(t, now)); got != open {
			t.Errorf("isOpen(%s) = %v, want %v", now, got, open)
		}
	}
	for now, want := range map[string]string{
		"2026-06-13T02:00:00Z": "2026-06-14T20:00:00Z",
		"2026-06-15T01:30:00Z": "2026-06-19T22:00:00Z",
	} {
		if next, ok := h.nextOpen(at(t, now)); !ok || !next.Equal(at(t, want)) {
			t.Errorf("nextOpen(%s) = %s, want %s", now, next.Format(time.RFC3339), want)
		}
	}
	if got := h.closedSince(at(t, "2026-06-13T09:00:00Z")); !got.Equal(at(t, "2026-06-13T02:00:00Z")) {
		t.Errorf("closedSince after an overnight span = %s", got.Format(time.RFC3339))
	}
}

// TestHoursDST: hours follow the local wall clock across DST changes, a
// time skipped by the clock is the moment of the jump, and a repeated
// hour does not confuse the week.
func TestHoursDST(t *testing.T) {
	// New York: 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
	ny := mustHours(t, `{"timezone":"America/New_York","week":{"sun":[["02:30","10:00"]],"mon":[["09:00","17:00"]],"sat":[["22:00","02:00"]]}}`)
	for _, c := range []struct{ now, next string }{
		// 09:00 Monday is 14:00Z before the change and 13:00Z after.
		{"2026-03-03T00:00:00Z", "2026-03-07T22:00:00-05:00"},
		{"2026-03-08T11:00:00-04:00", "2026-03-09T09:00:00-04:00"},
		// Fall back: Monday 09:00 EST.
		{"2026-11-01T12:00:00-05:00", "2026-11-02T09:00:00-05:00"},
	} {
		if next, ok := ny.nextOpen(at(t, c.now)); !ok || !next.Equal(at(t, c.next)) {
			t.Errorf("nextOpen(%s) = %s, want %s", c.now, next.Format(time.RFC3339), c.next)
		}
	}
	// Saturday 22:00 EST runs to Sunday 02:00, which does not exist on
	// 2026-03-08: it ends at the jump (07:00Z), where Sunday's 02:30, which
	// does not exist either, begins.
	for now, open := range map[string]bool{
		"2026-03-08T02:59:00Z": false, // Sat 21:59 EST
		"2026-03-08T03:00:00Z": true,  // Sat 22:00 EST
		"2026-03-08T06:59:00Z": true,  // 01:59 EST, just before the jump
		"2026-03-08T07:00:00Z": true,  // 03:00 EDT: Sunday's span
		"2026-03-08T13:59:00Z": true,  // 09:59 EDT
		"2026-03-08T14:00:00Z": false, // 10:00 EDT
	} {
		if got := ny.isOpen(at(t, now)); got != open {
			t.Errorf("NY isOpen(%s) = %v, want %v", now, got, open)
		}
	}
	// Sunday's 02:30 does not exist on 2026-03-08: open at the jump, 03:00 EDT.
	sun := mustHours(t, `{"timezone":"America/New_York","week":{"sun":[["02:30","10:00"]]}}`)
	if next, _ := sun.nextOpen(at(t, "2026-03-08T06:30:00Z")); !next.Equal(at(t, "2026-03-08T03:00:00-04:00")) {
		t.Errorf("opening in the gap: nextOpen = %s, want 03:00 EDT", next.Format(time.RFC3339))
	}
	if sun.isOpen(at(t, "2026-03-08T06:59:59Z")) || !sun.isOpen(at(t, "2026-03-08T07:00:00Z")) {
		t.Error("opening in the gap: not open exactly from the jump")
	}
	// A span wholly inside the skipped hour is empty that night.
	gap := mustHours(t, `{"timezone":"America/New_York","week":{"sun":[["02:10","02:50"]]}}`)
	if next, _ := gap.nextOpen(at(t, "2026-03-07T12:00:00Z")); !next.Equal(at(t, "2026-03-15T02:10:00-04:00")) {
		t.Errorf("span inside the gap: nextOpen = %s, want the next Sunday", next.Format(time.RFC3339))
	}
	// Paris, 2026-03-29 02:00 CET → 03:00 CEST: Monday 09:00 is 08:00Z, then 07:00Z.
	paris := mustHours(t, `{"timezone":"Europe/Paris","week":{"mon":[["09:00","17:00"]]}}`)
	if next, _ := paris.nextOpen(at(t, "2026-03-24T00:00:00Z")); !next.Equal(at(t, "2026-03-30T07:00:00Z")) {
		t.Errorf("Paris after the change: %s", next.Format(time.RFC3339))
	}
	if next, _ := paris.nextOpen(at(t, "2026-03-17T00:00:00Z")); !next.Equal(at(t, "2026-03-23T08:00:00Z")) {
		t.Errorf("Paris before the change: %s", next.Format(time.RFC3339))
	}
	// The repeated hour of 2026-11-01 in New York: a span 01:00–03:00 lasts
	// from the first 01:00 (EDT or EST, Go's pick) to 03:00 EST.
	rep := mustHours(t, `{"timezone":"America/New_York","week":{"sun":[["01:00","03:00"]]}}`)
	if !rep.isOpen(at(t, "2026-11-01T06:30:00Z")) || !rep.isOpen(at(t, "2026-11-01T07:59:00Z")) || rep.isOpen(at(t, "2026-11-01T08:00:00Z")) {
		t.Error("the repeated hour: open 01:30 EST and 02:59 EST, closed 03:00 EST")
	}
}

// TestHoursAlwaysAndNever: nil hours are always open; a week without
// spans never opens.
func TestHoursAlwaysAndNever(t *testing.T) {
	now := time.Now()
	var always *Hours
	if !always.isOpen(now) {
		t.Error("nil hours closed")
	}
	if next, ok := always.nextOpen(now); !ok || !next.Equal(now) {
		t.Error("nil hours: nextOpen is not now")
	}
	if !always.closedSince(now).IsZero() {
		t.Error("nil hours: closedSince")
	}
	never := mustHours(t, `{"timezone":"UTC","week":{}}`)
	if never.isOpen(now) {
		t.Error("empty week open")
	}
	if _, ok := never.nextOpen(now); ok {
		t.Error("empty week has a next opening")
	}
	if !never.closedSince(now).IsZero() {
		t.Error("empty week: closedSince")
	}
	allWeek := mustHours(t, `{"timezone":"Pacific/Auckland","week":{"mon":[["00:00","24:00"]],"tue":[["00:00","24:00"]],"wed":[["00:00","24:00"]],"thu":[["00:00","24:00"]],"fri":[["00:00","24:00"]],"sat":[["00:00","24:00"]],"sun":[["00:00","24:00"]]}}`)
	for d := 0; d < 14*24; d++ {
		if tm := now.Add(time.Duration(d) * time.Hour); !allWeek.isOpen(tm) {
			t.Fatalf("all-week hours closed at %s", tm)
		}
	}
}

// TestAwayAndAskEmail: the two simple settings.
func TestAwayAndAskEmail(t *testing.T) {
	if v, p := validateAwayMessage("  Back at 9.  "); p != "" || v != "Back at 9." {
		t.Errorf("trim: %q %q", v, p)
	}
	if v, p := validateAwayMessage(""); p != "" || v != "" {
		t.Errorf("empty (no away message): %q %q", v, p)
	}
	if _, p := validateAwayMessage(strings.Repeat("é", 500)); p != "" {
		t.Errorf("500 characters refused: %q", p)
	}
	if _, p := validateAwayMessage(strings.Repeat("é", 501)); p == "" {
		t.Error("501 characters accepted")
	}
	if _, p := validateAwayMessage(42); p == "" {
		t.Error("a number accepted")
	}
	for _, ok := range []string{"never", "away", "always"} {
		if v, p := validateAskEmail(ok); p != "" || v != ok {
			t.Errorf("%s: %q %q", ok, v, p)
		}
	}
	for _, bad := range []any{"sometimes", "", "Away", true, nil} {
		if _, p := validateAskEmail(bad); p == "" {
			t.Errorf("askEmail %v accepted", bad)
		}
	}
	if len([]rune(defaultAwayMessage)) > maxAwayMessage || defaultAskEmail != "away" {
		t.Error("defaults outside their own limits")
	}
}

// TestAvailability: the three details fields.
func TestAvailability(t *testing.T) {
	h := mustHours(t, `{"timezone":"Europe/Paris","week":{"wed":[["09:00","17:00"]]}}`)
	inHours, afterHours := at(t, "2026-06-10T10:00:00+02:00"), at(t, "2026-06-10T18:00:00+02:00")
	for _, c := range []struct {
		h          *Hours
		online     bool
		now        time.Time
		open, away bool
		next       string
	}{
		{nil, true, afterHours, true, false, ""},
		{nil, false, afterHours, true, true, ""},
		{h, true, inHours, true, false, ""},
		{h, false, inHours, true, true, ""},
		{h, true, afterHours, false, true, "2026-06-17T07:00:00Z"},
		{mustHours(t, `{"timezone":"UTC","week":{}}`), true, inHours, false, true, ""},
	} {
		open, away, next := availability(c.h, c.online, c.now)
		got := ""
		if next != nil {
			got = *next
		}
		if open != c.open || away != c.away || got != c.next {
			t.Errorf("hours %v online %v at %s: open %v away %v next %q; want %v %v %q", c.h != nil, c.online, c.now, open, away, got, c.open, c.away, c.next)
		}
	}
}
