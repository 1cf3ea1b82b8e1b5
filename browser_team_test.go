package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	// Erasing a conversation is the owner's: the agent has no Delete button.
	if !pagesEval[bool](agentTab, `document.getElementById("delete").hidden`) {
		t.Error("the agent's inbox offers Delete")
	}
	ownerTab.openRoom("visitor-team")
	if pagesEval[bool](ownerTab, `document.getElementById("delete").hidden`) {
		t.Error("the owner's inbox has no Delete")
	}
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

// TestBrowserSettingsTeam: Settings → Team makes, lists and revokes
// invitation links, shows the agents with online dots and removes one;
// Your profile saves the name, email and mail setting; an agent sees the
// team but none of the owner's controls.
func TestBrowserSettingsTeam(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	owner := ts.client().signup("acme")

	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("the owner in the team", `document.querySelectorAll("#agents li").length === 1`, 5*time.Second)
	tab.waitJS("no invitations", `!document.getElementById("invites-none").hidden`, 5*time.Second)

	// An invitation with a name, then one revoked.
	tab.run(
		chromedp.SendKeys(chromedp.ID("invite-name"), "Cy Cohen"),
		chromedp.Click(chromedp.CSS(`#invite-form button[type="submit"]`)),
	)
	tab.waitJS("the pending invitation", `document.querySelectorAll("#invites li").length === 1`, 5*time.Second)
	if got := pagesEval[string](tab, `document.querySelector("#invites .invite-who").firstChild.textContent`); got != "Cy Cohen" {
		t.Fatalf("invite name shown as %q", got)
	}
	link := pagesEval[string](tab, `document.querySelector("#invites .invite-url").value`)
	if !strings.HasPrefix(link, ts.URL+"/join/") {
		t.Fatalf("link %q", link)
	}
	tab.run(chromedp.Click(chromedp.CSS(`#invites .js-copy`)))
	// Names are text, never HTML.
	tab.run(chromedp.SendKeys(chromedp.ID("invite-name"), "<b>Dee</b>"), chromedp.Click(chromedp.CSS(`#invite-form button[type="submit"]`)))
	tab.waitJS("two pending", `document.querySelectorAll("#invites li").length === 2`, 5*time.Second)
	tab.waitJS("the name as text", `[...document.querySelectorAll("#invites .invite-who")].some(e => e.firstChild.textContent === "<b>Dee</b>") && !document.querySelector("#invites b")`, 5*time.Second)
	tab.run(chromedp.Click(chromedp.CSS(`#invites li:not([data-token="` + strings.TrimPrefix(link, ts.URL+"/join/") + `"]) .js-revoke`)))
	tab.waitJS("one pending again", `document.querySelectorAll("#invites li").length === 1`, 5*time.Second)
	if l := owner.must(http.StatusOK, "GET", "/accounts/api/invites", nil).JSON["invites"].([]any); len(l) != 1 {
		t.Fatalf("pending = %v", l)
	}
	tab.run(pagesFill("invite-email", "not an address"), chromedp.Click(chromedp.CSS(`#invite-form button[type="submit"]`)))
	tab.waitJS("the email refused", `document.getElementById("invite-email-error").textContent !== ""`, 5*time.Second)

	// Cy joins with the link and keeps the inbox open: an online dot.
	cy := pagesNewTab(t, browser, true)
	cy.run(chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "cy"),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)))
	cy.waitJS("Cy's inbox", `location.pathname === "/messages" && document.getElementById("offline").hidden`, 10*time.Second)
	owner.invite(map[string]string{"name": "Dana Li", "email": "dana@example.com"})
	// The inbox's offline banner starts hidden: wait until the server has
	// Cy's socket, so the reloaded list can show the dot.
	waitFor(t, "Cy online on the server", func() bool {
		for _, a := range owner.must(http.StatusOK, "GET", "/accounts/api/agents", nil).JSON["agents"].([]any) {
			if m := a.(map[string]any); m["username"] == "cy" && m["online"] == true {
				return true
			}
		}
		return false
	})
	tab.run(chromedp.Reload())
	tab.waitJS("Dana's invitation", `document.querySelectorAll("#invites li").length === 1 && document.getElementById("invites-none").hidden`, 5*time.Second)
	tab.waitJS("Cy online in the team", `document.querySelector("#agents li:nth-child(2) .agent-dot.is-online")`, 5*time.Second)
	if got := pagesEval[string](tab, `document.querySelector("#agents li:nth-child(2) .agent-who").firstChild.textContent`); got != "Cy Cohen" {
		t.Fatalf("agent shown as %q", got)
	}
	tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("team").scrollIntoView()`))
	tab.docScreenshot("settings-team")

	// Cy's settings: the team without the owner's controls; the profile.
	cy2 := pagesNewTab(t, cy.ctx, false)
	cy2.run(chromedp.Navigate(ts.URL + "/settings"))
	cy2.waitJS("the team", `document.querySelectorAll("#agents li").length === 2`, 5*time.Second)
	if !pagesEval[bool](cy2, `document.getElementById("team-owner").hidden && document.getElementById("style-form").closest("section").hidden && !document.querySelector("#agents button")`) {
		t.Fatal("an agent sees the owner's controls")
	}
	cy2.run(pagesFill("profile-name", "Cy <b>C.</b>"), pagesFill("profile-email", "cy@example.com"),
		chromedp.Click(chromedp.ID("profile-notify")),
		chromedp.Click(chromedp.CSS(`#profile-form button[type="submit"]`)))
	cy2.waitJS("saved", `document.getElementById("profile-saved").textContent === "Saved."`, 5*time.Second)
	cy2.run(pagesFill("profile-name", ""), chromedp.Click(chromedp.CSS(`#profile-form button[type="submit"]`)))
	cy2.waitJS("an empty name refused", `document.getElementById("profile-name-error").textContent !== ""`, 5*time.Second)
	u, err := ts.DB.UserByName(context.Background(), "cy")
	if err != nil || u.Name != "Cy <b>C.</b>" || u.Email != "cy@example.com" || u.NotifyEmail {
		t.Fatalf("profile stored = %+v (%v)", u, err)
	}
	tab.run(chromedp.Reload())
	tab.waitJS("the new name, as text", `document.querySelector("#agents li:nth-child(2) .agent-who").firstChild.textContent === "Cy <b>C.</b>" && !document.querySelector("#agents b")`, 5*time.Second)

	// The owner removes Cy: Cy's inbox is closed and goes to sign in.
	tab.run(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	tab.run(chromedp.Click(chromedp.CSS(`#agents li:nth-child(2) button`)))
	tab.waitJS("Cy gone from the team", `document.querySelectorAll("#agents li").length === 1`, 5*time.Second)
	cy.waitJS("Cy signed out", `location.pathname === "/signin"`, 10*time.Second)
}
