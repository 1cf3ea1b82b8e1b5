package main

import (
	"encoding/json"
	"testing"
)

// TestAppendJSONMatchesEncodingJSON: the hand-written frames are byte for
// byte encoding/json's.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"é 😀 \u2028 \u2029", "bad \xff utf8 \xe2\x82", "ends in \xc3"}
	for i, s := range strs {
		m := Message{ID: int64(i*1000 + 7), Author: s, Content: s, Type: "text", File: s, Room: "acme " + s,
			Created: formatTime(1735787045123 + int64(i)), ClientID: s, Agent: s, AgentID: int64(i * 3), Auto: i%2 == 1,
			Private: i%3 == 0}
		want, _ := json.Marshal(&m)
		if got := appendMessageJSON(nil, &m, 1735787045123+int64(i)); string(got) != string(want) {
			t.Errorf("message %q:\n got %s\nwant %s", s, got, want)
		}
		r := roomRow{Consumer: s, Email: s, Unread: i, Created: -1000 + int64(i), LastActivity: 253402300799999}
		if i%2 == 1 { // assigned and resolved; the others open and nobody's
			r.Status, r.AssigneeID, r.AssigneeName = statusResolved, int64(i), s
		}
		switch i % 3 { // no visitor, one without pages, one with
		case 1:
			r.Visitor = &Visitor{Name: s, Email: s, PageURL: s, PageTitle: s, Referrer: s, Language: s, Timezone: s,
				Browser: s, OS: s, Country: s, FirstSeen: s, LastSeen: s, Pages: []VisitorPage{}}
		case 2:
			r.Visitor = &Visitor{Name: s, Pages: []VisitorPage{{URL: s, Title: s, At: s}, {URL: "https://x/" + s}}}
		}
		msgs := appendMessageJSON([]byte("["), &m, 1735787045123+int64(i))
		msgs = append(msgs, ']')
		want, _ = json.Marshal(r.json(msgs, i%2 == 0))
		if got := appendRoomJSON(nil, &r, msgs, i%2 == 0); string(got) != string(want) {
			t.Errorf("room %q:\n got %s\nwant %s", s, got, want)
		}
	}
	want, _ := json.Marshal((&roomRow{}).json(nil, false))
	if got := appendRoomJSON(nil, &roomRow{}, nil, false); string(got) != string(want) {
		t.Errorf("empty room:\n got %s\nwant %s", got, want)
	}
}
