package main

// Business hours, the away message and askEmail (SPEC Part 2, "Hours and
// away"): validation of what the owner sets, and the pure time functions
// the public details and the away reply need: isOpen, nextOpen and
// closedSince.
//
// Semantics, where SPEC is silent:
//   - Hours are wall-clock times in the business's IANA time zone, so
//     "09:00" is 09:00 local on both sides of a DST change.
//   - A span is [start, end): open at 09:00, closed at 17:00 sharp.
//   - "24:00" may end a span (until midnight). 00:00–24:00 is all day.
//   - Overnight spans are allowed: an end earlier than the start runs into
//     the next day, so mon 22:00–02:00 is open Monday 22:00 to Tuesday
//     02:00. It belongs to Monday: set it under the day it starts.
//   - Spans may not overlap, neither within a day nor with the previous
//     day's overnight span, and start ≠ end (an empty span is a mistake).
//   - A time the clock skips when DST starts (02:30 on a spring-forward
//     night) is read as the moment the clock jumps (03:00): a span that
//     starts or ends in the gap starts or ends then; a span wholly inside
//     it is empty that night. A time that happens twice when DST ends is
//     the one Go's time.Date picks (either; both are that wall time).
//   - Missing days are closed; a week with no spans never opens (the
//     window is always away, next_open is null).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	// The zone database inside the binary: a VPS or container image
	// without /usr/share/zoneinfo still knows every IANA zone (~450 KB).
	_ "time/tzdata"
	"unicode/utf8"
)

// Away and askEmail settings.
const (
	defaultAwayMessage = "We're away right now. Leave your email and we'll answer you there."
	maxAwayMessage     = 500 // characters
	defaultAskEmail    = "away"
	maxSpansPerDay     = 8
)

// weekdays are the keys of Hours.Week, in JSON order, Monday first.
var weekdays = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// weekdayIndex maps a key to time.Weekday.
var weekdayIndex = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Hours is a business's opening hours. A nil *Hours is always open.
type Hours struct {
	Timezone string
	loc      *time.Location
	// days holds each weekday's spans, sorted, in minutes after that
	// day's local midnight; end > start and may pass 1440 (overnight).
	days [7][]span
}

type span struct{ start, end int }

var hhmmRE = regexp.MustCompile(`^([01][0-9]|2[0-4]):([0-5][0-9])$`)

// parseHHMM reads "HH:MM" as minutes after midnight, 0..1440 ("24:00").
func parseHHMM(s string) (int, bool) {
	m := hhmmRE.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	h := int(m[1][0]-'0')*10 + int(m[1][1]-'0')
	mi := int(m[2][0]-'0')*10 + int(m[2][1]-'0')
	if h == 24 && mi != 0 {
		return 0, false
	}
	return h*60 + mi, true
}

func formatHHMM(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// parseHours validates the owner's "hours" value: JSON null (always open,
// nil Hours) or {"timezone": IANA name, "week": {"mon": [["09:00","17:00"]], …}}.
// Problems come back by field ("hours", "hours.timezone",
// "hours.week.mon"), each a sentence for a person.
func parseHours(raw json.RawMessage) (*Hours, map[string]string) {
	errs := map[string]string{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		errs["hours"] = `Must be null (always open) or {"timezone": "Europe/Paris", "week": {"mon": [["09:00", "17:00"]], …}}.`
		return nil, errs
	}
	for k := range obj {
		if k != "timezone" && k != "week" {
			errs["hours"] = fmt.Sprintf("Unknown field %q: only timezone and week.", k)
			return nil, errs
		}
	}
	h := &Hours{}
	var tz string
	if err := json.Unmarshal(obj["timezone"], &tz); err != nil || strings.TrimSpace(tz) == "" {
		errs["hours.timezone"] = `Required: a time zone name like "Europe/Paris" or "America/New_York".`
	} else if loc, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		errs["hours.timezone"] = fmt.Sprintf("%q is not a time zone name; use one like \"Europe/Paris\" or \"America/New_York\".", tz)
	} else {
		h.Timezone, h.loc = loc.String(), loc
	}
	var week map[string]json.RawMessage
	if err := json.Unmarshal(obj["week"], &week); err != nil || week == nil {
		errs["hours.week"] = `Required: an object with the days "mon" to "sun", each a list of ["HH:MM", "HH:MM"] spans.`
		return nil, errs
	}
	for k := range week {
		if _, ok := weekdayIndex[k]; !ok {
			errs["hours.week"] = fmt.Sprintf("Unknown day %q: use mon, tue, wed, thu, fri, sat, sun.", k)
		}
	}
	for _, day := range weekdays {
		v, ok := week[day]
		if !ok || string(bytes.TrimSpace(v)) == "null" {
			continue // closed
		}
		field := "hours.week." + day
		var pairs [][]string
		if err := json.Unmarshal(v, &pairs); err != nil {
			errs[field] = `Must be a list of ["HH:MM", "HH:MM"] spans.`
			continue
		}
		if len(pairs) > maxSpansPerDay {
			errs[field] = fmt.Sprintf("At most %d spans a day.", maxSpansPerDay)
			continue
		}
		var spans []span
		for _, p := range pairs {
			if len(p) != 2 {
				errs[field] = `Each span is ["HH:MM", "HH:MM"]: an opening and a closing time.`
				break
			}
			start, ok1 := parseHHMM(p[0])
			end, ok2 := parseHHMM(p[1])
			if !ok1 || !ok2 || start == 1440 {
				errs[field] = fmt.Sprintf("%q–%q: times are HH:MM from 00:00 to 23:59 (24:00 may end a span).", p[0], p[1])
				break
			}
			if start == end {
				errs[field] = fmt.Sprintf("%s–%s is empty; 00:00–24:00 is all day.", p[0], p[1])
				break
			}
			if end < start {
				end += 1440 // overnight, into the next day
			}
			spans = append(spans, span{start, end})
		}
		if _, bad := errs[field]; bad {
			continue
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
		for i := 1; i < len(spans); i++ {
			if spans[i].start < spans[i-1].end {
				errs[field] = fmt.Sprintf("%s–%s overlaps %s–%s.", formatHHMM(spans[i].start), formatHHMM(spans[i].end%1440),
					formatHHMM(spans[i-1].start), formatHHMM(spans[i-1].end%1440))
				break
			}
		}
		h.days[weekdayIndex[day]] = spans
	}
	// The previous day's overnight span must end before this day's first.
	for _, day := range weekdays {
		wd := weekdayIndex[day]
		prev := h.days[(wd+6)%7]
		if len(prev) == 0 || len(h.days[wd]) == 0 {
			continue
		}
		if carry := prev[len(prev)-1].end - 1440; carry > h.days[wd][0].start {
			field := "hours.week." + day
			if _, bad := errs[field]; !bad {
				errs[field] = fmt.Sprintf("%s starts before the previous day's overnight span ends (%s).", formatHHMM(h.days[wd][0].start), formatHHMM(carry))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return h, nil
}

// MarshalJSON writes the normalised form: every day present, spans sorted,
// overnight ends as the next day's time.
func (h *Hours) MarshalJSON() ([]byte, error) {
	if h == nil {
		return []byte("null"), nil
	}
	week := map[string][][2]string{}
	for _, day := range weekdays {
		spans := [][2]string{}
		for _, s := range h.days[weekdayIndex[day]] {
			end := formatHHMM(s.end % 1440)
			if s.end == 1440 {
				end = "24:00"
			}
			spans = append(spans, [2]string{formatHHMM(s.start), end})
		}
		week[day] = spans
	}
	return json.Marshal(map[string]any{"timezone": h.Timezone, "week": week})
}

// UnmarshalJSON reads and validates, for hours stored as JSON.
func (h *Hours) UnmarshalJSON(b []byte) error {
	parsed, errs := parseHours(b)
	if len(errs) > 0 {
		for f, p := range errs {
			return fmt.Errorf("%s: %s", f, p)
		}
	}
	if parsed == nil {
		return fmt.Errorf("hours: null is a nil *Hours")
	}
	*h = *parsed
	return nil
}

// at is the instant of minutes after local midnight of the date y-m-d
// (minutes may pass 1440: the next day). A wall time skipped by a DST
// change is read as the moment the clock jumped.
func (h *Hours) at(y int, m time.Month, d, minutes int) time.Time {
	d += minutes / 1440
	minutes %= 1440
	t := time.Date(y, m, d, minutes/60, minutes%60, 0, 0, h.loc)
	want := time.Date(y, m, d, minutes/60, minutes%60, 0, 0, time.UTC)
	got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
	switch {
	case got.After(want): // Go moved past the gap: its zone began at the jump
		start, _ := t.ZoneBounds()
		return start
	case got.Before(want): // Go stayed before the gap: its zone ends at the jump
		_, end := t.ZoneBounds()
		return end
	}
	return t
}

// spansAround calls fn with the instants of every span that starts on the
// local dates from t's date + from to t's date + to (days), in order.
func (h *Hours) spansAround(t time.Time, from, to int, fn func(start, end time.Time) bool) {
	lt := t.In(h.loc)
	y, m, d := lt.Date()
	for off := from; off <= to; off++ {
		date := time.Date(y, m, d+off, 12, 0, 0, 0, time.UTC) // noon: safe date arithmetic
		for _, s := range h.days[date.Weekday()] {
			start := h.at(date.Year(), date.Month(), date.Day(), s.start)
			end := h.at(date.Year(), date.Month(), date.Day(), s.end)
			if !start.Before(end) {
				continue // wholly inside a DST gap
			}
			if !fn(start, end) {
				return
			}
		}
	}
}

// isOpen reports whether t falls within the hours. Nil hours are always
// open.
func (h *Hours) isOpen(t time.Time) bool {
	if h == nil {
		return true
	}
	open := false
	h.spansAround(t, -1, 0, func(start, end time.Time) bool {
		open = !t.Before(start) && t.Before(end)
		return !open
	})
	return open
}

// nextOpen is the next moment at or after t when the hours open: t itself
// when open now; false when they never open (nil hours are always open:
// t, true).
func (h *Hours) nextOpen(t time.Time) (time.Time, bool) {
	if h == nil || h.isOpen(t) {
		return t, true
	}
	var best time.Time
	// Eight days ahead: a whole week even across a DST change.
	h.spansAround(t, 0, 8, func(start, end time.Time) bool {
		if start.After(t) && (best.IsZero() || start.Before(best)) {
			best = start
		}
		return true
	})
	return best, !best.IsZero()
}

// closedSince is when the current closed period began, the end of the
// last span before t: the away message goes out once per such period (a
// room whose last away message is older gets a new one). Zero when open
// now, for nil hours, or when nothing was open in the past eight days.
func (h *Hours) closedSince(t time.Time) time.Time {
	if h == nil || h.isOpen(t) {
		return time.Time{}
	}
	var last time.Time
	h.spansAround(t, -8, 0, func(start, end time.Time) bool {
		if !end.After(t) && end.After(last) {
			last = end
		}
		return true
	})
	return last
}

// validateAwayMessage checks the owner's awayMessage: a string of 0 to
// 500 characters, trimmed; "" sends no away message.
func validateAwayMessage(v any) (string, string) {
	s, ok := v.(string)
	if !ok {
		return "", "Must be a string."
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxAwayMessage {
		return "", fmt.Sprintf("Must be at most %d characters.", maxAwayMessage)
	}
	return s, ""
}

// validateAskEmail checks the owner's askEmail: "never", "away" (ask while
// away) or "always" (before the first message).
func validateAskEmail(v any) (string, string) {
	s, ok := v.(string)
	if !ok {
		return "", "Must be a string."
	}
	switch s {
	case "never", "away", "always":
		return s, ""
	}
	return "", `Must be "never", "away" or "always".`
}

// availability is what GET /chatbot/details/{username} adds for the
// visitor window: open (within hours now), away (not open, or no agent
// online) and next_open (RFC 3339 when closed and the hours open again,
// else nil: open now, or never opening).
func availability(h *Hours, agentOnline bool, now time.Time) (open, away bool, nextOpen *string) {
	open = h.isOpen(now)
	if !open {
		if t, ok := h.nextOpen(now); ok {
			s := t.UTC().Format(time.RFC3339)
			nextOpen = &s
		}
	}
	return open, !open || !agentOnline, nextOpen
}
