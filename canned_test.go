package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestCannedReplies: any agent of the business lists, creates, changes and
// deletes canned replies; shortcuts are checked and unique per business;
// a business keeps at most maxCanned; another business sees and touches
// none of them.
func TestCannedReplies(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	owner := ts.client().signup("acme")
	al, _ := ts.join(owner, "al", "Al")
	other := ts.client().signup("beta")

	list := func(c *testClient) []Canned {
		var out struct{ Canned []Canned }
		ts.getJSON(c, "/chatbot/api/canned", http.StatusOK, &out)
		return out.Canned
	}
	if got := list(owner); len(got) != 0 {
		t.Fatalf("new business has %v", got)
	}
	r := al.must(http.StatusCreated, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "hours", "content": "We're open 9 to 5."})
	hoursID := int64(r.JSON["id"].(float64))
	if r.JSON["shortcut"] != "hours" || r.JSON["content"] != "We're open 9 to 5." || hoursID < 1 {
		t.Fatalf("created %s", r.Body)
	}
	owner.must(http.StatusCreated, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "/Thanks", "content": "Thank you! <3"})
	got := list(owner)
	if len(got) != 2 || got[0].Shortcut != "hours" || got[1].Shortcut != "thanks" || got[1].Content != "Thank you! <3" {
		t.Fatalf("list = %+v", got)
	}

	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"shortcut": "", "content": "x"}, "shortcut"},
		{map[string]any{"shortcut": "two words", "content": "x"}, "shortcut"},
		{map[string]any{"shortcut": "é", "content": "x"}, "shortcut"},
		{map[string]any{"shortcut": strings.Repeat("a", 33), "content": "x"}, "shortcut"},
		{map[string]any{"shortcut": "ok", "content": "   "}, "content"},
		{map[string]any{"shortcut": "ok", "content": strings.Repeat("é", 4001)}, "content"},
		{map[string]any{"shortcut": "ok"}, "content"},
		{map[string]any{"shortcut": 5, "content": "x"}, "shortcut"},
	} {
		if r := owner.must(http.StatusBadRequest, "POST", "/chatbot/api/canned", c.body); r.FieldError(c.field) == "" {
			t.Errorf("POST %v: %s", c.body, r.Body)
		}
	}
	if r := owner.must(http.StatusConflict, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "hours", "content": "again"}); r.Detail() == "" {
		t.Errorf("duplicate: %s", r.Body)
	}
	// The same shortcut in another business is fine.
	other.must(http.StatusCreated, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "hours", "content": "Beta's hours"})

	// Change and delete; across businesses, 404 and nothing changes.
	r = owner.must(http.StatusOK, "PUT", fmt.Sprintf("/chatbot/api/canned/%d", hoursID), map[string]string{"shortcut": "open", "content": "Open 8 to 6."})
	if r.JSON["shortcut"] != "open" {
		t.Fatalf("PUT = %s", r.Body)
	}
	owner.must(http.StatusConflict, "PUT", fmt.Sprintf("/chatbot/api/canned/%d", hoursID), map[string]string{"shortcut": "thanks", "content": "x"})
	other.must(http.StatusNotFound, "PUT", fmt.Sprintf("/chatbot/api/canned/%d", hoursID), map[string]string{"shortcut": "mine", "content": "x"})
	other.must(http.StatusNotFound, "DELETE", fmt.Sprintf("/chatbot/api/canned/%d", hoursID), nil)
	owner.must(http.StatusNotFound, "PUT", "/chatbot/api/canned/999999", map[string]string{"shortcut": "x", "content": "x"})
	owner.must(http.StatusNotFound, "DELETE", "/chatbot/api/canned/abc", nil)
	if got := list(other); len(got) != 1 || got[0].Content != "Beta's hours" {
		t.Fatalf("beta sees %+v", got)
	}
	if got := list(al); len(got) != 2 || got[0].Shortcut != "open" || got[0].Content != "Open 8 to 6." {
		t.Fatalf("after PUT: %+v", got)
	}
	al.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chatbot/api/canned/%d", hoursID), nil)
	al.must(http.StatusNotFound, "DELETE", fmt.Sprintf("/chatbot/api/canned/%d", hoursID), nil)
	if got := list(owner); len(got) != 1 || got[0].Shortcut != "thanks" {
		t.Fatalf("after DELETE: %+v", got)
	}
	ts.client().must(http.StatusUnauthorized, "GET", "/chatbot/api/canned", nil)
	ts.client().must(http.StatusUnauthorized, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "x", "content": "x"})

	// At most maxCanned per business.
	for i := len(list(owner)); i < maxCanned; i++ {
		c := &Canned{Shortcut: fmt.Sprint("s", i), Content: "x"}
		if err := ts.DB.CreateCanned(t.Context(), ownerID(t, owner), c); err != nil {
			t.Fatal(err)
		}
	}
	if r := al.must(http.StatusConflict, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "onemore", "content": "x"}); !strings.Contains(r.Detail(), "500") {
		t.Errorf("past the limit: %s", r.Body)
	}
}
