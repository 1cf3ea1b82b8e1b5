package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

func TestBrowserWidgetCrossOrigin(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	// The app is reached as localhost, the business's site as 127.0.0.1:
	// two origins and two sites.
	appOrigin := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	host := pagesHostSite(t, appOrigin)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")

	site := pagesNewTab(t, browser, true)
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	// The host page's CSS does not reach into the widget.
	if w := pagesEval[string](site, pagesWidgetJS(`return getComputedStyle(sr.querySelector(".btn")).width`)); w != "60px" {
		t.Errorf("chat button width = %s, want 60px (host CSS leaked in)", w)
	}
	// A first-time visitor gets no iframe (and no socket) until they open it.
	if n := pagesEval[int](site, pagesWidgetJS(`return sr.querySelectorAll("iframe").length`)); n != 0 {
		t.Errorf("iframe before opening: %d", n)
	}
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("the panel", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".panel")).display === "block" && sr.querySelector("iframe")`), 5*time.Second)
	id := pagesEval[string](site, `localStorage.getItem("livechat:`+appOrigin+`:acme")`)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("visitor id in the host's localStorage = %q, want a random UUID", id)
	}
	frameURL := appOrigin + "/chatbot/acme/" + id
	if src := pagesEval[string](site, pagesWidgetJS(`return sr.querySelector("iframe").src`)); src != frameURL {
		t.Errorf("iframe src = %q, want %q", src, frameURL)
	}

	frame := pagesFrame(t, site, frameURL)
	frame.waitJS("the chat window connected", `document.getElementById("offline").hidden && document.getElementById("status").classList.contains("is-online")`, 10*time.Second)
	pagesSend(frame, "Hi from your website!")
	inbox.waitJS("the widget's room", `document.querySelector('#rooms .room[data-consumer="`+id+`"]')`, 5*time.Second)
	inbox.openRoom(id)
	inbox.waitJS("the widget's message", pagesCount("Hi from your website!")+" === 1", 5*time.Second)
	pagesSend(inbox, "Hello! How can we help?")
	frame.waitJS("the reply in the widget", pagesCount("Hello! How can we help?")+" === 1", 5*time.Second)
	site.screenshot("open")

	// Closed, an answer shows as a dot on the button.
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("closed", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".panel")).display === "none"`), 5*time.Second)
	pagesSend(inbox, "Are you still there?")
	site.waitJS("the unread dot", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".dot")).display === "block"`), 5*time.Second)
	site.screenshot("unread")
	// ...and is not marked "Seen" while the widget is closed.
	time.Sleep(300 * time.Millisecond)
	if pagesEval[bool](inbox, `!!document.querySelector("#messages .is-seen")?.textContent.includes("Are you still there?")`) {
		t.Errorf("a message to a closed widget was marked Seen")
	}

	// A returning visitor keeps the conversation: same id, history loads.
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("iframe made at once for a returning visitor", pagesWidgetJS(`return sr.querySelector("iframe")?.src === "`+frameURL+`"`), 5*time.Second)
	frame2 := pagesFrame(t, site, frameURL)
	frame2.waitJS("history", pagesCount("Are you still there?")+" === 1", 10*time.Second)
}

// With storage blocked (cookies and site data off, some private modes),
// reading localStorage throws: the inbox, the visitor window and the widget
// still work.
func TestBrowserStorageBlocked(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "nostore-visitor", "", "Anyone there?")
	block := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(window, "localStorage", { get() { throw new DOMException("The operation is insecure.", "SecurityError"); } });`,
		})
		return err
	})

	inbox := pagesNewTab(t, browser, true)
	inbox.run(block)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.openRoom("nostore-visitor")
	inbox.waitJS("the message", pagesCount("Anyone there?")+" === 1", 5*time.Second)
	inbox.run(chromedp.Click(chromedp.ID("sound")))
	pagesSend(inbox, "Yes, we are")
	inbox.waitJS("sent", pagesCount("Yes, we are")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(block, chromedp.Navigate(ts.URL+"/chatbot/acme/nostore-visitor"))
	visitor.waitJS("history", pagesCount("Yes, we are")+" === 1", 5*time.Second)
	pagesSend(visitor, "Great")
	visitor.waitJS("sent", pagesCount("Great")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	appOrigin := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	site := pagesNewTab(t, browser, true)
	site.run(block, chromedp.Navigate(pagesHostSite(t, appOrigin).URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("the panel", pagesWidgetJS(`return /\/chatbot\/acme\/[0-9a-f-]{36}$/.test(sr.querySelector("iframe")?.src)`), 5*time.Second)
	pagesFrame(t, site, appOrigin+"/chatbot/acme/").waitJS("widget connected", `document.getElementById("offline").hidden`, 10*time.Second)
}
