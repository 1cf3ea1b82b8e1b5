package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

func TestBrowserMessaging(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	// Two earlier conversations, so the inbox looks lived-in.
	pagesVisitorSays(t, ts.URL, "acme", "e3b0c442-98fc-4c14", "maria@example.com", "Hi! Is the Trail 29 still in stock in size L?")
	pagesVisitorSays(t, ts.URL, "acme", "9f86d081-884c-4d63", "", "Do you offer repairs for e-bikes?", "I live close to the shop.")
	// A styled chatbot with a picture, for the visitor's screenshot.
	pagesStyle(t, admin, ts.URL, `{"chatbotName":"Nordic Bikes","introductionText":"Hi! Questions about a bike, a repair or a test ride? We usually answer within minutes.",`+
		`"headerBackgroundColor":"#14532d","senderBackground":"#15803d","introductionBackgroundColor":"#f0fdf4","introductionTextColor":"#14532d","askEmail":"always"}`)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.waitJS("two rooms", `document.querySelectorAll("#rooms .room").length === 2`, 5*time.Second)
	inbox.waitJS("unread count in the title", `document.title.startsWith("(3)")`, 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/visitor-one"))
	visitor.waitJS("business online", `document.getElementById("status").classList.contains("is-online")`, 5*time.Second)
	visitor.waitJS("socket open", `document.getElementById("offline").hidden`, 5*time.Second)

	// Visitor → admin.
	start := time.Now()
	pagesSend(visitor, "Hello! Can I book a test ride on Saturday?")
	inbox.waitJS("the new room", `document.querySelector('#rooms .room[data-consumer="visitor-one"]')`, 5*time.Second)
	inbox.waitJS("new room first", `document.querySelector("#rooms .room").dataset.consumer === "visitor-one"`, 5*time.Second)
	inbox.openRoom("visitor-one") // not chromedp.Click: live frames re-render the list between lookup and click
	inbox.waitJS("the visitor's message", pagesCount("Hello! Can I book a test ride on Saturday?")+" === 1", 5*time.Second)
	t.Logf("visitor → admin: %v", time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("visitor → admin took %v", d)
	}
	// The admin read it: the visitor sees "Seen".
	visitor.waitJS("seen by the business", `document.querySelector("#messages .is-seen")`, 5*time.Second)

	// Admin → visitor, with the typing indicator first.
	inbox.run(chromedp.SendKeys(chromedp.ID("text"), "Of course"))
	visitor.waitJS("typing indicator", `document.getElementById("typing").textContent.includes("typing")`, 5*time.Second)
	start = time.Now()
	pagesSendEnter(inbox, " — 10:00 or 14:00?")
	visitor.waitJS("the admin's reply", pagesCount("Of course — 10:00 or 14:00?")+" === 1", 5*time.Second)
	t.Logf("admin → visitor: %v", time.Since(start))
	visitor.waitJS("typing indicator gone", `document.getElementById("typing").textContent === ""`, 5*time.Second)
	inbox.waitJS("seen by the visitor", `document.querySelector("#messages .is-mine.is-seen")`, 5*time.Second)

	// The optional email (askEmail "always": asked from the start) is stored.
	visitor.waitJS("the email prompt", `!document.getElementById("email-form").hidden`, 5*time.Second)
	visitor.run(
		chromedp.SendKeys(chromedp.ID("email"), "ola@example.com"),
		chromedp.Click(chromedp.CSS(`#email-form button[type="submit"]`)),
	)
	visitor.waitJS("the email prompt gone", `document.getElementById("email-form").hidden`, 5*time.Second)
	waitFor(t, "the visitor's email stored", func() bool {
		r := admin.do("GET", "/chatbot/api/rooms", nil)
		return strings.Contains(string(r.Body), `"consumer":"visitor-one","consumer_email":"ola@example.com"`)
	})
	// ... and shows in the open inbox at once, without a reload.
	inbox.waitJS("the email in the inbox", `document.getElementById("convo-name").textContent === "ola@example.com"`, 5*time.Second)

	// The visitor typing shows in the inbox.
	visitor.run(chromedp.SendKeys(chromedp.ID("text"), "10:00"))
	inbox.waitJS("visitor typing in the inbox", `document.getElementById("typing").textContent.includes("typing")`, 5*time.Second)
	visitor.run(pagesFill("text", ""))

	// Shift+Enter makes a new line, Enter sends.
	visitor.run(chromedp.SendKeys(chromedp.ID("text"), "10:00 please."))
	visitor.run(chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)))
	pagesSendEnter(visitor, "My name is Ola.")
	inbox.waitJS("two-line message", pagesCount("10:00 please.\nMy name is Ola.")+" === 1", 5*time.Second)

	// An image from the visitor shows on both sides.
	pic := filepath.Join(t.TempDir(), "bike.png")
	if err := os.WriteFile(pic, pagesPNG(), 0o644); err != nil {
		t.Fatal(err)
	}
	visitor.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{pic}))
	loaded := `[...document.querySelectorAll("#messages .lcw-bubble img")].filter(i => i.complete && i.naturalWidth > 0 && i.alt === "bike.png").length === 1`
	visitor.waitJS("image on the visitor's side", loaded, 5*time.Second)
	inbox.waitJS("image in the inbox", loaded, 5*time.Second)

	// And an image from the admin.
	inbox.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{pic}))
	inbox.waitJS("admin image", `document.querySelectorAll("#messages .is-mine .lcw-bubble img").length === 1`, 5*time.Second)
	visitor.waitJS("admin image at the visitor", `[...document.querySelectorAll("#messages .lcw-msg:not(.is-mine) .lcw-bubble img")].filter(i => i.complete && i.naturalWidth > 0).length === 1`, 5*time.Second)

	pagesSend(inbox, "See you Saturday at 10:00, Ola! Bring a helmet if you have one.")
	visitor.waitJS("last reply", pagesCount("See you Saturday at 10:00, Ola! Bring a helmet if you have one.")+" === 1", 5*time.Second)
	pagesSend(visitor, "Great, thank you!")
	inbox.waitJS("thanks", pagesCount("Great, thank you!")+" === 1", 5*time.Second)

	// No message appears twice on either side.
	for _, tab := range []*pagesTab{inbox, visitor} {
		if dup := pagesEval[int](tab, `(() => { const ids = [...document.querySelectorAll("#messages .lcw-msg")].map(li => li.dataset.id); return ids.length - new Set(ids).size })()`); dup != 0 {
			t.Errorf("%d duplicate messages", dup)
		}
	}
	// The filter box narrows the list.
	inbox.run(chromedp.SendKeys(chromedp.ID("filter"), "maria"))
	inbox.waitJS("filtered", `document.querySelectorAll("#rooms .room").length === 1`, 5*time.Second)
	inbox.run(pagesFill("filter", ""))
	inbox.waitJS("unfiltered", `document.querySelectorAll("#rooms .room").length === 3`, 5*time.Second)
	inbox.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 1e6`))

	pagesClearComposer(inbox)
	inbox.docScreenshot("inbox")
	visitor.run(chromedp.EmulateViewport(400, 720))
	pagesClearComposer(visitor)
	visitor.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 1e6`))
	visitor.docScreenshot("visitor")

	// Export and delete.
	r := admin.do("GET", "/chatbot/api/rooms/visitor-one/export", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "Great, thank you!") {
		t.Errorf("export: %d", r.Status)
	}
	inbox.run(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	inbox.run(chromedp.Click(chromedp.ID("delete")))
	inbox.waitJS("room deleted", `!document.querySelector('#rooms .room[data-consumer="visitor-one"]') && document.getElementById("convo").hidden`, 5*time.Second)
}

func TestBrowserInboxSurvivesRestart(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/restart-visitor"))
	visitor.waitJS("socket open", `document.getElementById("offline").hidden && document.getElementById("status").classList.contains("is-online")`, 5*time.Second)

	pagesSend(visitor, "Before the restart")
	inbox.openRoom("restart-visitor")
	inbox.waitJS("first message", pagesCount("Before the restart")+" === 1", 5*time.Second)
	pagesSend(inbox, "Reply before the restart")
	visitor.waitJS("first reply", pagesCount("Reply before the restart")+" === 1", 5*time.Second)

	// The server goes away: both windows say so, and keep what is typed.
	ts.Close()
	inbox.waitJS("offline banner in the inbox", `!document.getElementById("offline").hidden`, 5*time.Second)
	visitor.waitJS("offline banner at the visitor", `!document.getElementById("offline").hidden`, 5*time.Second)
	inbox.screenshot("offline")
	pagesSend(visitor, "Sent while the server was down")
	pagesSend(inbox, "Admin wrote while offline")
	visitor.waitJS("pending at the visitor", `document.querySelector("#messages .is-pending")`, 2*time.Second)

	// Same address, same database file.
	start := time.Now()
	ts.start()
	inbox.waitJS("inbox back online", `document.getElementById("offline").hidden`, 20*time.Second)
	visitor.waitJS("visitor back online", `document.getElementById("offline").hidden`, 20*time.Second)
	for _, tab := range []*pagesTab{inbox, visitor} {
		tab.waitJS("the visitor's offline message, once", pagesCount("Sent while the server was down")+" === 1", 10*time.Second)
		tab.waitJS("the admin's offline message, once", pagesCount("Admin wrote while offline")+" === 1", 10*time.Second)
		tab.waitJS("nothing pending", `!document.querySelector("#messages .is-pending")`, 5*time.Second)
	}
	t.Logf("recovered %v after the restart", time.Since(start))

	// Live again in both directions, nothing lost or doubled.
	pagesSend(visitor, "After the restart")
	inbox.waitJS("live after the restart", pagesCount("After the restart")+" === 1", 5*time.Second)
	want := []string{"Before the restart", "Reply before the restart", "Sent while the server was down", "Admin wrote while offline", "After the restart"}
	for _, tab := range []*pagesTab{inbox, visitor} {
		got := pagesEval[[]string](tab, `[...document.querySelectorAll("#messages .lcw-bubble")].map(b => b.textContent)`)
		if len(got) != len(want) {
			t.Errorf("messages after the restart = %q, want %d messages %q", got, len(want), want)
			continue
		}
		seen := map[string]int{}
		for _, g := range got {
			seen[g]++
		}
		for _, w := range want {
			if seen[w] != 1 {
				t.Errorf("%q shown %d times, want once (all: %q)", w, seen[w], got)
			}
		}
	}
	inbox.waitJS("room list still correct", `document.querySelectorAll("#rooms .room").length === 1`, 5*time.Second)
}

// Scrolling up in a long conversation loads older messages, page by page,
// in order and without duplicates.
func TestBrowserHistoryPaging(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	const n = 130
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("Message number %d", i+1)
	}
	pagesVisitorSays(t, ts.URL, "acme", "long-talk", "", texts...)

	check := func(tab *pagesTab) {
		tab.t.Helper()
		tab.waitJS("the last page", pagesCount("Message number 130")+" === 1", 5*time.Second)
		if got := pagesEval[int](tab, `document.querySelectorAll("#messages .lcw-msg").length`); got >= n {
			t.Errorf("first load showed %d messages; want one page", got)
		}
		for i := 0; i < 10; i++ {
			if pagesEval[int](tab, `document.querySelectorAll("#messages .lcw-msg").length`) == n {
				break
			}
			tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 0`))
			time.Sleep(300 * time.Millisecond)
		}
		got := pagesEval[[]string](tab, `[...document.querySelectorAll("#messages .lcw-bubble")].map(b => b.textContent)`)
		if len(got) != n {
			t.Fatalf("after scrolling up: %d messages, want %d", len(got), n)
		}
		for i, g := range got {
			if g != texts[i] {
				t.Fatalf("message %d = %q, want %q", i, g, texts[i])
			}
		}
	}

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/long-talk"))
	check(visitor)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.openRoom("long-talk")
	check(inbox)
}

// The same in the inbox: deleting a conversation after the session ended
// goes to the sign-in page (no alert, nothing deleted).
func TestBrowserSessionEndsMidInbox(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "ended-visitor", "", "Hello?")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, ts.URL, "acme")
	tab.openRoom("ended-visitor")
	tab.waitJS("the message", pagesCount("Hello?")+" === 1", 5*time.Second)
	pagesEval[int](tab, `fetch("/accounts/api/logout", { method: "POST" }).then(r => r.status)`)
	tab.run(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; window.alert = (m) => { window.alerted = m; }`))
	tab.run(chromedp.Click(chromedp.ID("delete")))
	tab.waitJS("the sign-in page", `location.pathname === "/signin"`, 5*time.Second)
}

// A conversation deleted elsewhere (another tab, another device) while it
// is open in the inbox: a reply gets not_found, and the inbox says so and
// closes it instead of showing "Sending…" for good.
func TestBrowserInboxConversationDeletedElsewhere(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "gone-visitor", "", "Hello there")
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.openRoom("gone-visitor")
	inbox.waitJS("the message", pagesCount("Hello there")+" === 1", 5*time.Second)

	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/chatbot/api/rooms/gone-visitor", nil)
	resp, err := admin.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pagesSend(inbox, "Sorry for the wait")
	inbox.waitJS("the conversation closed", `document.getElementById("convo").hidden && !document.querySelector('#rooms .room[data-consumer="gone-visitor"]')`, 5*time.Second)
	inbox.waitJS("a notice", `document.getElementById("convo-empty").textContent.includes("deleted")`, 2*time.Second)
}

// Frames the pages do not expect (unknown commands, missing or mistyped
// fields, not even objects) throw nothing, and the page keeps working.
func TestBrowserOddFrames(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "odd-visitor", "", "Hi")
	// Keep every socket the page opens, to hand it made-up frames.
	keep := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.sockets = []; const WS = WebSocket; window.WebSocket = class extends WS { constructor(...a) { super(...a); window.sockets.push(this); } };`,
		})
		return err
	})
	frames := []string{
		`{"command":"bogus"}`, `{}`, `[]`, `null`, `"text"`, `42`,
		`{"command":"rooms"}`, `{"command":"rooms","rooms":{}}`, `{"command":"rooms","rooms":[null,{"consumer":5},{"consumer":"odd-visitor","messages":[null,{"id":"x"}]}]}`,
		`{"command":"new_room"}`, `{"command":"new_room","room":null}`, `{"command":"new_room","room":{"consumer":"odd-2","messages":{}}}`,
		`{"command":"new_message"}`, `{"command":"new_message","message":null}`, `{"command":"new_message","message":{"id":"7"}}`,
		`{"command":"new_message","message":{"id":999,"room":"acme odd-visitor","author":"odd-visitor","content":5,"created":"nonsense"}}`,
		`{"command":"new_message","message":{"id":998,"room":7,"author":null,"content":null,"file":{},"type":3}}`,
		`{"command":"messages"}`, `{"command":"messages","messages":{}}`, `{"command":"messages","messages":[null,{"id":"1"}]}`,
		`{"command":"presence"}`, `{"command":"room_updated"}`, `{"command":"typing"}`, `{"command":"read"}`, `{"command":"read","up_to":"x"}`,
		`{"command":"error"}`,
	}
	js, _ := json.Marshal(frames)
	inject := `(() => { for (const ws of window.sockets) if (ws.readyState === 1) for (const f of ` + string(js) + `) ws.dispatchEvent(new MessageEvent("message", { data: f })); return true })()`

	inbox := pagesNewTab(t, browser, true)
	inbox.run(keep)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.openRoom("odd-visitor")
	inbox.waitJS("the message", pagesCount("Hi")+" === 1", 5*time.Second)
	inbox.waitJS("two sockets open", `window.sockets.filter(ws => ws.readyState === 1).length === 2`, 5*time.Second)
	pagesEval[bool](inbox, inject)
	pagesSend(inbox, "Still working")
	inbox.waitJS("sent", pagesCount("Still working")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(keep, chromedp.Navigate(ts.URL+"/chatbot/acme/odd-visitor"))
	visitor.waitJS("history", pagesCount("Still working")+" === 1", 5*time.Second)
	pagesEval[bool](visitor, inject)
	pagesSend(visitor, "Me too")
	visitor.waitJS("sent", pagesCount("Me too")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
}

// A message over the server's length limit is refused in the composer with
// a reason, and the text is kept, instead of hanging at "Sending…" (the
// server answers bad_field, which names no client_id).
func TestBrowserTooLongMessage(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "long-visitor", "", "Hi")
	long := `"` + strings.Repeat("a", 4001) + `"`
	check := func(tab *pagesTab) {
		t.Helper()
		tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("text").value = ` + long))
		tab.run(chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
		tab.waitJS("the reason", `document.getElementById("typing").textContent.includes("too long")`, 2*time.Second)
		if n := pagesEval[int](tab, `document.querySelectorAll("#messages .is-pending").length`); n != 0 {
			t.Errorf("%d messages left pending", n)
		}
		if n := pagesEval[int](tab, `document.getElementById("text").value.length`); n != 4001 {
			t.Errorf("composer holds %d characters, want the 4001 kept", n)
		}
		if n := pagesEval[int](tab, `document.getElementById("text").maxLength`); n != 4000 {
			t.Errorf("composer maxlength = %d, want 4000", n)
		}
		tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("text").value = ""`))
		pagesSend(tab, "Short one")
		tab.waitJS("sent", pagesCount("Short one")+" >= 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
	}
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/long-visitor"))
	visitor.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	check(visitor)
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.openRoom("long-visitor")
	inbox.waitJS("the message", pagesCount("Hi")+" === 1", 5*time.Second)
	check(inbox)
}

// fetch_rooms answers a page of rooms (issue 12): the inbox asks for the
// next pages until has_more is false, so a business with more than one
// page of conversations still finds its oldest one.
func TestBrowserInboxLoadsEveryPage(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	vis := ts.dialWS("/ws/room/acme", nil)
	const total = 130
	for i := range total {
		ts.clock.Advance(time.Millisecond) // distinct last_activity
		vis.send(map[string]any{"command": "new_room", "consumer": fmt.Sprintf("c%03d", i)})
		vis.expect("new_room")
	}
	ts.seedMessages(t) // a conversation starts with a message
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.waitJS("the newest room", `!!document.querySelector('#rooms .room[data-consumer="c129"]')`, 5*time.Second)
	inbox.run(pagesFill("filter", "c000"))
	inbox.waitJS("the oldest room, on the second page", `!!document.querySelector('#rooms .room[data-consumer="c000"]')`, 5*time.Second)
}
