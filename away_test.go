package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// parisWeekdays is the hours most tests here set: weekdays 09:00–17:00 in
// Paris (UTC+1 in winter, so 08:00–16:00 UTC).
var parisWeekdays = map[string]any{"timezone": "Europe/Paris", "week": map[string]any{
	"mon": [][]string{{"09:00", "17:00"}}, "tue": [][]string{{"09:00", "17:00"}}, "wed": [][]string{{"09:00", "17:00"}},
	"thu": [][]string{{"09:00", "17:00"}}, "fri": [][]string{{"09:00", "17:00"}}}}

// setClock moves the harness clock to the wall time at in Paris.
func (ts *testServer) setClock(t testing.TB, at string) {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	want, err := time.ParseInLocation("2006-01-02 15:04", at, paris)
	if err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(want.Sub(ts.clock.Now()))
}

func TestHoursAPI(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client().signup("acme")

	bot := c.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)
	if bot["hours"] != nil || bot["awayMessage"] != defaultAwayMessage || bot["askEmail"] != "away" {
		t.Fatalf("defaults: %v", bot)
	}

	// Partial update: hours alone, normalised (every day present); the
	// other fields keep their values.
	r := c.must(200, "POST", "/chatbot/api", map[string]any{"hours": map[string]any{"timezone": "America/New_York",
		"week": map[string]any{"mon": [][]string{{"13:00", "17:00"}, {"08:00", "12:00"}}, "fri": [][]string{{"22:00", "02:00"}}}}})
	got := r.JSON["chatbot_details"].(map[string]any)
	hours, _ := got["hours"].(map[string]any)
	week, _ := hours["week"].(map[string]any)
	if hours["timezone"] != "America/New_York" || len(week) != 7 || got["awayMessage"] != defaultAwayMessage || got["chatbotName"] != "acme" {
		t.Fatalf("hours update: %s", r.Body)
	}
	if mon := week["mon"].([]any); len(mon) != 2 || mon[0].([]any)[0] != "08:00" {
		t.Errorf("mon spans not sorted: %v", mon)
	}
	if fri := week["fri"].([]any); fri[0].([]any)[1] != "02:00" || len(week["sun"].([]any)) != 0 {
		t.Errorf("overnight or empty day: %v", week)
	}
	r = c.must(200, "POST", "/chatbot/api", map[string]any{"awayMessage": "  Back at nine.  ", "askEmail": "always"})
	got = r.JSON["chatbot_details"].(map[string]any)
	if got["awayMessage"] != "Back at nine." || got["askEmail"] != "always" || got["hours"] == nil {
		t.Errorf("away update: %s", r.Body)
	}
	if g := c.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any); g["awayMessage"] != "Back at nine." || g["hours"] == nil {
		t.Errorf("not stored: %v", g)
	}

	// Field errors, and nothing changes.
	before := c.must(200, "GET", "/chatbot/api", nil).Body
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"unknown zone", map[string]any{"hours": map[string]any{"timezone": "Mars/Olympus", "week": map[string]any{}}}, "hours.timezone"},
		{"no zone", map[string]any{"hours": map[string]any{"week": map[string]any{}}}, "hours.timezone"},
		{"bad day", map[string]any{"hours": map[string]any{"timezone": "UTC", "week": map[string]any{"monday": []any{}}}}, "hours.week"},
		{"bad time", map[string]any{"hours": map[string]any{"timezone": "UTC", "week": map[string]any{"tue": [][]string{{"9:00", "17:00"}}}}}, "hours.week.tue"},
		{"overlap", map[string]any{"hours": map[string]any{"timezone": "UTC", "week": map[string]any{"wed": [][]string{{"09:00", "12:00"}, {"11:00", "13:00"}}}}}, "hours.week.wed"},
		{"hours a string", map[string]any{"hours": "9 to 5"}, "hours"},
		{"long away", map[string]any{"awayMessage": strings.Repeat("a", 501)}, "awayMessage"},
		{"away a number", map[string]any{"awayMessage": 3}, "awayMessage"},
		{"askEmail", map[string]any{"askEmail": "sometimes"}, "askEmail"},
		{"good with bad", map[string]any{"chatbotName": "New", "askEmail": "never", "awayMessage": false}, "awayMessage"},
		{"form post", "hours=always", "hours"},
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

	// null: always open again; "" is a valid away message (none sent).
	r = c.must(200, "POST", "/chatbot/api", map[string]any{"hours": nil, "awayMessage": ""})
	if got := r.JSON["chatbot_details"].(map[string]any); got["hours"] != nil || got["awayMessage"] != "" {
		t.Errorf("reset: %s", r.Body)
	}
	// A form post of the text fields works too.
	r = c.must(200, "POST", "/chatbot/api", "askEmail=never&awayMessage=Gone+fishing")
	if got := r.JSON["chatbot_details"].(map[string]any); got["askEmail"] != "never" || got["awayMessage"] != "Gone fishing" {
		t.Errorf("form: %s", r.Body)
	}
}

func TestDetailsAvailability(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	anon := ts.client()
	details := func() map[string]any {
		t.Helper()
		return anon.must(200, "GET", "/chatbot/details/acme", nil).JSON
	}
	check := func(when string, open, away bool, next any) {
		t.Helper()
		d := details()
		if d["open"] != open || d["away"] != away || d["next_open"] != next {
			t.Errorf("%s: open=%v away=%v next_open=%v, want %v %v %v", when, d["open"], d["away"], d["next_open"], open, away, next)
		}
	}
	// No hours: always open; away only for want of an agent.
	check("no hours, nobody online", true, true, nil)
	inbox := ts.dialWS("/ws/room/acme", admin)
	check("no hours, agent online", true, false, nil)

	admin.must(200, "POST", "/chatbot/api", map[string]any{"hours": parisWeekdays})
	ts.setClock(t, "2026-12-07 10:00") // a Monday
	check("Monday 10:00, agent online", true, false, nil)
	ts.setClock(t, "2026-12-07 17:00") // closing time is closed
	check("Monday 17:00", false, true, "2026-12-08T08:00:00Z")
	ts.setClock(t, "2026-12-11 19:30") // Friday evening: Monday next
	check("Friday 19:30", false, true, "2026-12-14T08:00:00Z")
	ts.setClock(t, "2026-12-14 08:59")
	check("Monday 08:59", false, true, "2026-12-14T08:00:00Z")
	ts.setClock(t, "2026-12-14 09:00")
	check("Monday 09:00", true, false, nil)
	inbox.conn.CloseNow()
	waitFor(t, "the agent to go offline", func() bool { return details()["online"] == false })
	check("Monday 09:00, nobody online", true, true, nil)

	// A week without spans never opens.
	admin.must(200, "POST", "/chatbot/api", map[string]any{"hours": map[string]any{"timezone": "UTC", "week": map[string]any{}}})
	check("never open", false, true, nil)
}

// TestAwayReply: outside hours a visitor's message gets the away message
// back once per closed period, stored and published after it to both
// sides; inside hours, or with an empty away message, nothing is posted.
func TestAwayReply(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	admin := ts.client().signup("acme")
	admin.must(200, "POST", "/chatbot/api", map[string]any{"hours": parisWeekdays})
	inbox := ts.dialWS("/ws/room/acme", admin)
	inbox.probeRooms()
	ts.setClock(t, "2026-12-07 18:00") // Monday evening: closed

	vis := ts.dialWS("/ws/chat/acme/visitor-1", nil)
	inbox.expect("new_room")
	inbox.expect("presence")
	expectAway := func(ws *wsClient, content string) frame {
		t.Helper()
		m := ws.expect("new_message").msg()
		if m.str("author") != "acme" || m["auto"] != true || m.str("content") != content || !strings.HasPrefix(m.str("room"), "acme visitor-") {
			t.Fatalf("%s: want the away message %q, got %v", ws.name, content, m)
		}
		return m
	}

	mine := vis.say("anyone there?")
	if _, ok := mine["auto"]; ok {
		t.Errorf("the visitor's own message is marked auto: %v", mine)
	}
	away := expectAway(vis, defaultAwayMessage)
	if away.num("id") <= mine.num("id") {
		t.Errorf("away message id %d not after the visitor's %d", away.num("id"), mine.num("id"))
	}
	if got := inbox.expect("new_message").msg(); got.num("id") != mine.num("id") {
		t.Fatalf("inbox: %v", got)
	}
	expectAway(inbox, defaultAwayMessage)

	// The same closed period (the night, then Tuesday 08:59): no more.
	vis.say("hello?")
	ts.setClock(t, "2026-12-08 08:59")
	vis.say("still there?")
	vis.probe()

	// Stored like any message: history shows it, marked auto.
	vis.send(map[string]any{"command": "fetch_messages", "limit": 10})
	hist := vis.expect("messages")["messages"].([]any)
	var autos int
	for _, m := range hist {
		if m.(map[string]any)["auto"] == true {
			autos++
		}
	}
	if len(hist) != 4 || autos != 1 || hist[1].(map[string]any)["auto"] != true {
		t.Errorf("history: %v", hist)
	}

	// Open: nothing, also with no agent online.
	inbox.conn.CloseNow()
	ts.setClock(t, "2026-12-08 10:00")
	vis.say("morning")
	vis.probe()

	// The next closed period gets it again, in the owner's new words (the
	// cached hours are dropped on update).
	admin.must(200, "POST", "/chatbot/api", map[string]any{"awayMessage": "Back at 9 <b>sharp</b>."})
	ts.setClock(t, "2026-12-08 17:30")
	vis.say("evening")
	expectAway(vis, "Back at 9 <b>sharp</b>.")

	// Another visitor's room has its own period.
	other := ts.dialWS("/ws/chat/acme/visitor-2", nil)
	other.say("hi")
	expectAway(other, "Back at 9 <b>sharp</b>.")

	// An empty away message sends none.
	admin.must(200, "POST", "/chatbot/api", map[string]any{"awayMessage": ""})
	ts.setClock(t, "2026-12-09 18:00")
	vis.say("Wednesday evening")
	vis.probe()

	// An upload outside hours counts as a message too.
	admin.must(200, "POST", "/chatbot/api", map[string]any{"awayMessage": "Closed."})
	ts.setClock(t, "2026-12-10 18:00")
	if resp, body := ts.upload(nil, "acme visitor-1", "note.txt", []byte("hello")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if m := vis.expect("new_message").msg(); m.str("content") != "note.txt" {
		t.Fatalf("upload message: %v", m)
	}
	expectAway(vis, "Closed.")

	// The inbox's REST list shows the away message as the last one.
	r := admin.must(200, "GET", "/chatbot/api/rooms", nil)
	if !strings.Contains(string(r.Body), `"auto":true`) {
		t.Errorf("room list: %s", r.Body)
	}
}
