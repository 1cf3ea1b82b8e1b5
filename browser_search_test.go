package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSearchAndVisitorPanel: the inbox's search finds an accented
// word from an old message (far beyond the first page of the
// conversation), opens the conversation at that message with the word
// marked, and the visitor panel shows the visitor's page and browser.
// The real visitor window reports its own page too.
func TestBrowserSearchAndVisitorPanel(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")

	v := dialVisitor(ts, "/ws/chat/acme/baker-1", chromeWindowsUA)
	v.send(map[string]any{"command": "visitor", "page_url": "https://shop.example/bread", "page_title": "Bread shop",
		"referrer": "https://search.example/", "language": "de-DE", "timezone": "Europe/Berlin", "name": "Jürgen"})
	v.say("Do you have Glüten-free bread? <b>not bold</b>")
	for i := range 130 {
		v.say(fmt.Sprintf("later message %d", i))
	}
	v.conn.CloseNow()
	pagesVisitorSays(t, ts.URL, "acme", "other-2", "", "something else entirely")

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.waitJS("two rooms", `document.querySelectorAll("#rooms .room").length === 2`, 5*time.Second)

	// One character does not ask the server; two do.
	inbox.run(chromedp.SendKeys(chromedp.ID("filter"), "g"))
	time.Sleep(400 * time.Millisecond)
	if shown := pagesEval[bool](inbox, `!document.getElementById("search-results").hidden`); shown {
		t.Error("a one-character query shows search results")
	}
	inbox.run(chromedp.SendKeys(chromedp.ID("filter"), "luten"))
	inbox.waitJS("the hit", `document.querySelectorAll("#search-results .search-hit").length === 1`, 5*time.Second)
	inbox.waitJS("the word marked in the hit", `document.querySelector("#search-results .search-hit-text mark").textContent === "Glüten"`, 5*time.Second)
	if got := pagesEval[string](inbox, `document.querySelector("#search-results .search-hit-who").textContent`); got != "Jürgen" {
		t.Errorf("hit names %q", got)
	}
	// Text, never HTML.
	if n := pagesEval[int](inbox, `document.querySelectorAll("#search-results b").length`); n != 0 {
		t.Errorf("the hit made %d <b> elements from message text", n)
	}

	inbox.run(chromedp.Evaluate[chromedp.Void](`document.querySelector("#search-results .search-hit").click()`))
	inbox.waitJS("the old message, marked, in view", `(() => {
		const li = document.querySelector("#messages li.is-hit");
		if (!li) return false;
		const mark = li.querySelector(".lcw-bubble mark");
		if (!mark || mark.textContent !== "Glüten") return false;
		const r = li.getBoundingClientRect(), log = document.getElementById("log").getBoundingClientRect();
		return r.bottom > log.top && r.top < log.bottom;
	})()`, 10*time.Second)
	if n := pagesEval[int](inbox, `document.querySelectorAll("#messages .lcw-bubble b").length`); n != 0 {
		t.Errorf("the conversation made %d <b> elements from message text", n)
	}
	// The visitor panel.
	inbox.waitJS("the panel's page link", `(() => {
		const a = document.querySelector('#visitor-panel [data-field="page"] a');
		return a && a.href === "https://shop.example/bread" && a.textContent === "Bread shop" && a.rel.includes("noopener");
	})()`, 5*time.Second)
	for field, want := range map[string]string{"browser": "Chrome 120.0.6099.110 on Windows 10.0", "name": "Jürgen", "language": "de-DE"} {
		if got := pagesEval[string](inbox, `document.querySelector('#visitor-panel [data-field="`+field+`"]').textContent`); got != want {
			t.Errorf("panel %s = %q, want %q", field, got, want)
		}
	}
	if got := pagesEval[string](inbox, `document.querySelector('#visitor-panel [data-field="local-time"]').textContent`); got == "" {
		t.Error("no local time in the panel")
	}

	inbox.docScreenshot("inbox-search-visitor-panel")

	// No matches.
	inbox.run(pagesFill("filter", "zzzqqq"))
	inbox.waitJS("no matches", `document.querySelector("#search-results .search-status").textContent === "No matches"`, 5*time.Second)

	// The real visitor window reports its page; the open panel updates live.
	inbox.run(pagesFill("filter", ""))
	inbox.waitJS("results gone", `document.getElementById("search-results").hidden`, 5*time.Second)
	inbox.openRoom("other-2")
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/other-2"))
	inbox.waitJS("the window's own page in the panel", `(() => {
		const a = document.querySelector('#visitor-panel [data-field="page"] a');
		return a && a.href.endsWith("/chatbot/acme/other-2") && document.querySelector('#visitor-panel [data-field="browser"]').textContent !== "";
	})()`, 10*time.Second)
}
