package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserTeamInbox: two agents in two browsers; a visitor opens the
// chat (a visitor on the site, not yet a conversation) and writes; agent 1
// assigns it to herself and answers; agent 2 sees the assignment and the
// answer live and the badge clear; a private note is seen by both agents
// and never by the visitor's window; resolving moves it to Resolved, the
// visitor writing again reopens it; "/" inserts a canned reply.
func TestBrowserTeamInbox(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	owner := ts.client().signup("acme")
	ts.join(owner, "ann", "Ann")
	ts.join(owner, "bob", "Bob")
	owner.must(http.StatusCreated, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "hours", "content": "We are open 9 to 5, Monday to Friday."})
	owner.must(http.StatusCreated, "POST", "/chatbot/api/canned", map[string]string{"shortcut": "thanks", "content": "Thank you for writing!"})

	ann := pagesNewTab(t, browser, true)
	pagesSignIn(ann, ts.URL, "ann")
	bob := pagesNewTab(t, browser, true)
	pagesSignIn(bob, ts.URL, "bob")
	for _, tab := range []*pagesTab{ann, bob} {
		tab.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	}

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/vis-1"))
	visitor.waitJS("socket open", `document.getElementById("offline").hidden`, 5*time.Second)
	// On the site, not in the conversations.
	for _, tab := range []*pagesTab{ann, bob} {
		tab.waitJS("the visitor on the site", `document.getElementById("visitors").textContent.includes("has not written yet")`, 5*time.Second)
		if pagesEval[bool](tab, `!!document.querySelector('#rooms .room[data-consumer="vis-1"]')`) {
			t.Fatal("a visitor who has not written is listed as a conversation")
		}
	}
	pagesSend(visitor, "Do you ship to Norway?")
	badge := `(document.querySelector('#rooms .room[data-consumer="vis-1"] .badge') || {}).textContent`
	for _, tab := range []*pagesTab{ann, bob} {
		tab.waitJS("the unread badge", badge+` === "1"`, 5*time.Second)
		tab.waitJS("the visitor can be opened from the site list", `!!document.querySelector('#visitors button[data-consumer="vis-1"]')`, 5*time.Second)
	}

	// Ann takes it and answers.
	ann.openRoom("vis-1")
	ann.waitJS("the message", pagesCount("Do you ship to Norway?")+" === 1", 5*time.Second)
	ann.waitJS("the assign menu", `document.getElementById("assign").options.length >= 3`, 5*time.Second)
	pagesSelect(ann, "assign", `[...document.getElementById("assign").options].find(o => o.text === "Me").value`)
	pagesSend(ann, "Yes, we do!")
	visitor.waitJS("the answer", pagesCount("Yes, we do!")+" === 1", 5*time.Second)

	// Bob sees all of it live: badge gone, the answer, the assignment.
	bob.waitJS("the badge cleared", badge+` === ""`, 5*time.Second)
	pagesSelect(bob, "view", `"unassigned"`)
	bob.waitJS("not in Unassigned", `!document.querySelector('#rooms .room[data-consumer="vis-1"]')`, 5*time.Second)
	pagesSelect(bob, "view", `"open"`)
	bob.openRoom("vis-1")
	bob.waitJS("the answer", pagesCount("Yes, we do!")+" === 1", 5*time.Second)
	bob.waitJS("the assignment", `document.getElementById("assign").selectedOptions[0].text === "Ann"`, 5*time.Second)

	// A private note from Bob: both agents, never the visitor.
	bob.run(chromedp.Click(chromedp.ID("note")))
	pagesSend(bob, "Big customer, check the discount")
	for _, tab := range []*pagesTab{ann, bob} {
		tab.waitJS("the note, styled", `[...document.querySelectorAll("#messages .lcw-msg.is-note:not(.is-pending) .lcw-bubble")].some(b => b.textContent === "Big customer, check the discount")`, 5*time.Second)
	}
	bob.run(chromedp.Click(chromedp.ID("note"))) // back to replies
	pagesSend(bob, "Anything else?")
	visitor.waitJS("the reply after the note", pagesCount("Anything else?")+" === 1", 5*time.Second)
	if n := pagesEval[int](visitor, pagesCount("Big customer, check the discount")); n != 0 {
		t.Fatal("the visitor's window shows the private note")
	}
	// Not after a reload either (history).
	visitor.run(chromedp.Reload())
	visitor.waitJS("history", pagesCount("Anything else?")+" === 1", 5*time.Second)
	if n := pagesEval[int](visitor, `document.body.textContent.includes("Big customer") ? 1 : 0`); n != 0 {
		t.Fatal("the visitor's history shows the private note")
	}

	// Ann resolves: it leaves Open for Resolved, in both inboxes.
	ann.run(chromedp.Click(chromedp.ID("resolve")))
	for _, tab := range []*pagesTab{ann, bob} {
		tab.waitJS("Reopen offered", `document.getElementById("resolve").textContent === "Reopen"`, 5*time.Second)
		tab.waitJS("gone from Open", `!document.querySelector('#rooms .room[data-consumer="vis-1"]')`, 5*time.Second)
	}
	pagesSelect(bob, "view", `"resolved"`)
	bob.waitJS("in Resolved", `!!document.querySelector('#rooms .room[data-consumer="vis-1"]')`, 5*time.Second)
	// The visitor writes again: open again, live.
	pagesSend(visitor, "One more question")
	bob.waitJS("gone from Resolved", `!document.querySelector('#rooms .room[data-consumer="vis-1"]')`, 5*time.Second)
	ann.waitJS("back in Open", `!!document.querySelector('#rooms .room[data-consumer="vis-1"]') && document.getElementById("resolve").textContent === "Resolve"`, 5*time.Second)

	// "/" offers the canned replies; arrow down and Enter insert one.
	ann.run(chromedp.Click(chromedp.ID("text")), chromedp.SendKeys(chromedp.ID("text"), "/"))
	ann.waitJS("the canned list", `!document.getElementById("canned-pop").hidden && document.querySelectorAll("#canned-pop li").length === 2`, 5*time.Second)
	ann.run(chromedp.SendKeys(chromedp.ID("text"), "t"))
	ann.waitJS("filtered by shortcut", `document.querySelectorAll("#canned-pop li").length === 1`, 5*time.Second)
	// (A key sent over CDP can leave a newline behind that a real Enter does not.)
	ann.run(chromedp.SendKeys(chromedp.ID("text"), kb.Enter))
	ann.waitJS("inserted, not sent", `document.getElementById("text").value.trim() === "Thank you for writing!" && document.getElementById("canned-pop").hidden`, 5*time.Second)
	if n := pagesEval[int](ann, pagesCount("Thank you for writing!")); n != 0 {
		t.Fatal("Enter in the canned list sent the message")
	}
	ann.run(chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
	visitor.waitJS("the canned reply", pagesCount("Thank you for writing!")+" === 1", 5*time.Second)

	// Managing them in the dialog.
	ann.run(chromedp.Click(chromedp.ID("canned-manage")))
	ann.waitJS("the dialog", `document.getElementById("canned-dialog").open && document.querySelectorAll("#canned-list li").length === 2`, 5*time.Second)
	ann.run(
		chromedp.SendKeys(chromedp.ID("canned-shortcut"), "bye"),
		chromedp.SendKeys(chromedp.ID("canned-content"), "Have a <b>nice</b> day!"),
		chromedp.Click(chromedp.CSS(`#canned-form button[type="submit"]`)),
	)
	ann.waitJS("saved and listed as text", `document.querySelectorAll("#canned-list li").length === 3 && document.getElementById("canned-list").textContent.includes("Have a <b>nice</b> day!")`, 5*time.Second)
	var list struct{ Canned []Canned }
	ts.getJSON(owner, "/chatbot/api/canned", http.StatusOK, &list)
	if len(list.Canned) != 3 || list.Canned[0].Shortcut != "bye" {
		t.Fatalf("canned after the dialog: %+v", list.Canned)
	}
	ann.run(chromedp.Click(chromedp.ID("canned-close")))
	ann.check()
	bob.check()
	visitor.check()
}

// pagesSelect picks an option of a select (value is a JS expression) as a
// person would: the value changes and "change" fires.
func pagesSelect(tab *pagesTab, id, value string) {
	tab.t.Helper()
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("` + id + `"); s.value = ` + value + `; s.dispatchEvent(new Event("change")); })()`))
}
