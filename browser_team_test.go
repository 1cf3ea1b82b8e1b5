package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserTeam: the owner invites; a second browser joins through
// /join/<token>; both inboxes see a visitor's message; the agent's reply
// shows the agent's name in the visitor window; a read in one inbox
// clears the badge in the other; and the owner's own chat window, in the
// browser signed in to the business, talks as a visitor.
func TestBrowserTeam(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	owner := ts.client().signup("acme")
	tok := owner.invite(map[string]string{"name": "Bo Berg"})

	ownerTab := pagesNewTab(t, browser, true)
	pagesSignIn(ownerTab, ts.URL, "acme")

	agentTab := pagesNewTab(t, browser, true)
	agentTab.run(
		chromedp.Navigate(ts.URL+"/join/"+tok),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	if got := pagesEval[string](agentTab, `document.getElementById("name").value`); got != "Bo Berg" {
		t.Fatalf("join form name = %q", got)
	}
	agentTab.run(
		chromedp.SendKeys(chromedp.ID("username"), "bo"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	agentTab.waitJS("the agent's inbox", `location.pathname === "/messages" && document.getElementById("inbox-app")`, 10*time.Second)
	// The link is used up.
	ts.client().must(http.StatusNotFound, "GET", "/join/"+tok, nil)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/visitor-team"))
	visitor.waitJS("socket open", `document.getElementById("offline").hidden`, 5*time.Second)
	pagesSend(visitor, "Is anyone there?")
	badge := `(document.querySelector('#rooms .room[data-consumer="visitor-team"] .badge') || {}).textContent`
	for _, tab := range []*pagesTab{ownerTab, agentTab} {
		tab.waitJS("the visitor's room", `document.querySelector('#rooms .room[data-consumer="visitor-team"]')`, 5*time.Second)
		tab.waitJS("its unread badge", badge+` === "1"`, 5*time.Second)
	}

	// The agent opens it (reading it) and answers: the owner's badge goes.
	agentTab.openRoom("visitor-team")
	agentTab.waitJS("the message", pagesCount("Is anyone there?")+" === 1", 5*time.Second)
	ownerTab.waitJS("the badge cleared by the agent's read", badge+` === ""`, 5*time.Second)
	ownerTab.waitJS("the title without unread", `!document.title.startsWith("(")`, 5*time.Second)
	pagesSend(agentTab, "Hi, Bo here. How can I help?")
	visitor.waitJS("the agent's reply", pagesCount("Hi, Bo here. How can I help?")+" === 1", 5*time.Second)
	visitor.waitJS("the agent's name above it", `[...document.querySelectorAll("#messages .lcw-msg:not(.is-mine) .lcw-agent")].map(e => e.textContent).join() === "Bo Berg"`, 5*time.Second)
	ownerTab.openRoom("visitor-team")
	ownerTab.waitJS("the agent's reply in the owner's inbox", pagesCount("Hi, Bo here. How can I help?")+" === 1", 5*time.Second)

	// The owner tries their own chat window in their own browser: a visitor there.
	self := pagesNewTab(t, ownerTab.ctx, false)
	self.run(chromedp.Navigate(ts.URL + "/chatbot/acme/owner-trying"))
	self.waitJS("socket open", `document.getElementById("offline").hidden`, 5*time.Second)
	pagesSend(self, "Testing my own chat")
	self.waitJS("sent as the visitor", `document.querySelector("#messages .lcw-msg.is-mine:not(.is-pending)")`, 5*time.Second)
	agentTab.waitJS("the owner's test as a visitor's room", `document.querySelector('#rooms .room[data-consumer="owner-trying"]')`, 5*time.Second)
	// Its uploads are the visitor's too.
	pic := filepath.Join(t.TempDir(), "test.png")
	if err := os.WriteFile(pic, pagesPNG(), 0o644); err != nil {
		t.Fatal(err)
	}
	self.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{pic}))
	self.waitJS("the upload", `document.querySelectorAll("#messages .lcw-msg.is-mine .lcw-bubble img").length === 1`, 5*time.Second)
	hist := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/owner-trying/messages", nil).JSON["messages"].([]any)
	if len(hist) != 2 {
		t.Fatalf("owner's test messages = %v", hist)
	}
	for _, h := range hist {
		if m := h.(map[string]any); m["author"] != "owner-trying" || m["agent"] != nil {
			t.Fatalf("owner's test message = %v", m)
		}
	}
}
