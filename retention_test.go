package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestRetentionSetting: retentionDays is the owner's to set, 0 to 3650
// whole days, 0 (keep forever) by default; a bad value changes nothing.
func TestRetentionSetting(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.client().signup("acme")
	r := owner.must(http.StatusOK, "GET", "/chatbot/api", nil)
	if got := r.JSON["chatbot_details"].(map[string]any)["retentionDays"]; got != float64(0) {
		t.Fatalf("default retentionDays %v, want 0", got)
	}
	r = owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]any{"retentionDays": 30})
	if got := r.JSON["chatbot_details"].(map[string]any)["retentionDays"]; got != float64(30) {
		t.Fatalf("retentionDays %v after setting 30", got)
	}
	for _, bad := range []any{-1, 3651, 1.5, "30", nil, true} {
		r := owner.must(http.StatusBadRequest, "POST", "/chatbot/api", map[string]any{"retentionDays": bad, "chatbotName": "Changed"})
		if r.FieldError("retentionDays") == "" {
			t.Errorf("retentionDays %v: no field error in %s", bad, r.Body)
		}
	}
	r = owner.must(http.StatusOK, "GET", "/chatbot/api", nil)
	details := r.JSON["chatbot_details"].(map[string]any)
	if details["retentionDays"] != float64(30) || details["chatbotName"] != "acme" {
		t.Errorf("a refused update changed something: %v %v", details["retentionDays"], details["chatbotName"])
	}
	owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]any{"retentionDays": 3650})
	owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]any{"retentionDays": 0})

	// An agent sees it and may not change it.
	agent, _ := ts.join(owner, "sam", "Sam")
	agent.must(http.StatusForbidden, "POST", "/chatbot/api", map[string]any{"retentionDays": 1})
	r = agent.must(http.StatusOK, "GET", "/chatbot/api", nil)
	if got := r.JSON["chatbot_details"].(map[string]any)["retentionDays"]; got != float64(0) {
		t.Errorf("retentionDays %v after the agent's refused change, want 0", got)
	}
}

// TestRetentionErasesOldConversations: with retentionDays 30, the daily
// job erases the rooms quiet for more than 30 days, with their messages and
// files, and their text is in neither the database file nor the WAL
// afterwards; a room with recent activity, and the rooms of a business
// without retention, are kept. A visitor still on an erased room is told
// it closed.
func TestRetentionErasesOldConversations(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.retentionEvery = 20 * time.Millisecond })
	owner := ts.client().signup("acme")
	other := ts.client().signup("other")
	marker := "expire-me-" + newFileToken()
	keep := "keep-me-" + newFileToken()
	otherText := "no-retention-" + newFileToken()

	old := ts.dialWS("/ws/chat/acme/old", nil)
	for i := range 20 {
		old.say(fmt.Sprintf("%s message %d", marker, i))
	}
	file := bytes.Repeat([]byte(marker+" in the file\n"), 2000) // overflow pages
	resp, body := ts.upload(nil, "acme old", marker+".txt", file)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	old.expect("new_message") // the file's message
	fileURL := ""
	r := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/old/messages", nil)
	for _, m := range r.JSON["messages"].([]any) {
		if f, _ := m.(map[string]any)["file"].(string); f != "" {
			fileURL = f
		}
	}
	if fileURL == "" {
		t.Fatalf("no file message in %s", r.Body)
	}
	ts.dialWS("/ws/chat/acme/later", nil).say("early " + keep)
	ts.dialWS("/ws/chat/other/x", nil).say(otherText)

	fileBytes := func() []byte {
		var all []byte
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(ts.Path + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]any{"retentionDays": 30})
	time.Sleep(100 * time.Millisecond) // several runs: nothing is old yet
	owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/old/messages", nil)

	if !bytes.Contains(fileBytes(), []byte(marker)) {
		t.Fatal("the marker is in neither file before the erasure: the search proves nothing")
	}
	// Off while the clock moves and "later" is active again today (kept,
	// with its old messages), so the job cannot run in between.
	owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]any{"retentionDays": 0})
	ts.clock.Advance(31 * 24 * time.Hour)
	ts.dialWS("/ws/chat/acme/later", nil).say("today " + keep)
	owner.must(http.StatusOK, "POST", "/chatbot/api", map[string]any{"retentionDays": 30})

	waitFor(t, "the old room to be erased", func() bool {
		return owner.do("GET", "/chatbot/api/rooms/old/messages", nil).Status == http.StatusNotFound
	})
	old.expectError("not_found") // the visitor's window is told
	if got := ts.client().do("GET", fileURL, nil).Status; got != http.StatusNotFound {
		t.Errorf("the erased room's file answers %d, want 404", got)
	}
	r = owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/later/messages", nil)
	if msgs := r.JSON["messages"].([]any); len(msgs) != 2 {
		t.Errorf("the active room has %d messages, want 2", len(msgs))
	}
	r = other.must(http.StatusOK, "GET", "/chatbot/api/rooms/x/messages", nil)
	if msgs := r.JSON["messages"].([]any); len(msgs) != 1 {
		t.Errorf("the business without retention lost its old room: %d messages", len(msgs))
	}

	// The erased text is in neither file (the job checkpoints after its
	// deletes); the kept text still is.
	// (A read can fall between a checkpoint's copy into the file and the
	// WAL's truncation, so the files are read until one snapshot settles.)
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := fileBytes()
		erased := !bytes.Contains(all, []byte(marker))
		kept := bytes.Contains(all, []byte(keep)) && bytes.Contains(all, []byte(otherText))
		if erased && kept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the erasure: marker gone %v, kept text present %v", erased, kept)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
