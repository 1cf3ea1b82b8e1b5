package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserSignup(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	tab := pagesNewTab(t, browser, true)

	tab.run(chromedp.Navigate(ts.URL + "/"))
	tab.waitJS("landing", `document.querySelector(".hero h1")`, 5*time.Second)
	tab.screenshot("landing")

	tab.run(
		chromedp.Navigate(ts.URL+"/signup"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "Nordic-Bikes"),
		chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("inline password error", `document.getElementById("password-error").textContent.includes("8")`, 5*time.Second)

	// A reserved username: the server's field error shows next to the field.
	tab.run(
		pagesFill("username", "api"),
		pagesFill("password", "correct horse"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("server field error", `document.getElementById("username-error").textContent !== ""`, 5*time.Second)
	tab.screenshot("signup-error")

	tab.run(
		pagesFill("username", "Nordic-Bikes"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("the inbox after signup", `location.pathname === "/messages"`, 10*time.Second)
	if got := pagesEval[string](tab, `document.getElementById("inbox-app").dataset.username`); got != "nordic-bikes" {
		t.Errorf("inbox username = %q, want nordic-bikes", got)
	}
	// Signed in: /signin sends the admin on to the inbox.
	tab.run(chromedp.Navigate(ts.URL + "/signin"))
	tab.waitJS("redirect to the inbox", `location.pathname === "/messages"`, 5*time.Second)
}

// Friendly 404 pages, for pages and for unknown chat windows.
func TestBrowserNotFound(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/no/such/page"))
	tab.waitJS("404 page", `document.querySelector(".nf h1").textContent === "Page not found"`, 5*time.Second)
	tab.screenshot("404")
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/nobody/some-visitor"))
	tab.waitJS("unknown chat", `document.querySelector(".nf p:not(.code)").textContent.includes("no chat here")`, 5*time.Second)
}

func TestBrowserPhone(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "phone-visitor", "ola@example.com", "Hi! Is the shop open on Sunday?")

	// The visitor window at phone size: no sideways scrolling, the composer
	// on screen, big enough to tap.
	visitor := pagesNewTab(t, browser, true)
	visitor.run(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(ts.URL+"/chatbot/acme/phone-visitor"),
	)
	visitor.waitJS("history", pagesCount("Hi! Is the shop open on Sunday?")+" === 1", 5*time.Second)
	visitor.waitJS("no sideways scroll", `document.documentElement.scrollWidth <= innerWidth`, 2*time.Second)
	visitor.waitJS("composer on screen", `(() => { const r = document.getElementById("text").getBoundingClientRect(); return r.bottom <= innerHeight && r.height >= 40 && r.width > 200 })()`, 2*time.Second)
	visitor.waitJS("send button tappable", `document.querySelector('#composer button[type="submit"]').getBoundingClientRect().height >= 40`, 2*time.Second)
	pagesSend(visitor, "And on Monday?")
	visitor.waitJS("sent", pagesCount("And on Monday?")+" === 1", 5*time.Second)
	visitor.run(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	visitor.screenshot("visitor")

	// The inbox at phone size: the list, then one conversation with a way back.
	inbox := pagesNewTab(t, browser, true)
	inbox.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.waitJS("the room", `document.querySelector('#rooms .room[data-consumer="phone-visitor"]')`, 5*time.Second)
	inbox.screenshot("inbox-list")
	inbox.openRoom("phone-visitor")
	inbox.waitJS("conversation full width", `(() => { const r = document.getElementById("convo").getBoundingClientRect(); return r.width >= 380 && getComputedStyle(document.querySelector(".rooms-pane")).display === "none" })()`, 5*time.Second)
	inbox.waitJS("no sideways scroll", `document.documentElement.scrollWidth <= innerWidth`, 2*time.Second)
	inbox.screenshot("inbox-conversation")
	inbox.run(chromedp.Click(chromedp.ID("back")))
	inbox.waitJS("back to the list", `getComputedStyle(document.querySelector(".rooms-pane")).display !== "none"`, 5*time.Second)

	// Settings at phone size: one column, nothing sideways.
	inbox.run(chromedp.Navigate(ts.URL + "/settings"))
	inbox.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	inbox.waitJS("no sideways scroll in settings", `document.documentElement.scrollWidth <= innerWidth`, 2*time.Second)
	inbox.screenshot("settings")

	// The widget opens full screen on a phone.
	host := pagesHostSite(t, strings.Replace(ts.URL, "127.0.0.1", "localhost", 1))
	site := pagesNewTab(t, browser, true)
	site.run(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(host.URL),
	)
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("full screen panel", pagesWidgetJS(`const r = sr.querySelector(".panel").getBoundingClientRect(); return r.left === 0 && r.top === 0 && r.width === innerWidth && r.height === innerHeight`), 5*time.Second)
	site.waitJS("close button", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".close")).display === "block"`), 5*time.Second)
	pagesFrame(t, site, strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)+"/chatbot/acme/").
		waitJS("widget connected", `document.getElementById("offline").hidden`, 10*time.Second)
	site.screenshot("widget")
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".close").click()`)))
	site.waitJS("closed again", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".panel")).display === "none" && getComputedStyle(sr.querySelector(".btn")).display !== "none"`), 5*time.Second)
}

// The watchdog itself: a CSP violation and an uncaught exception on one of
// our pages are caught, so the other browser tests would fail on them.
func TestBrowserCatchesCSPViolations(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	tab := &pagesTab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, tab.onEvent); err != nil {
		t.Fatal(err)
	}
	tab.run(chromedp.Navigate(ts.URL + "/"))
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.createElement("script"); s.textContent = "window.x = 1"; document.body.append(s);
		const i = document.createElement("img"); i.src = "https://example.invalid/x.png"; document.body.append(i);
		setTimeout(() => { throw new Error("boom") }, 0);
	})()`))
	deadline := time.Now().Add(5 * time.Second)
	for {
		tab.mu.Lock()
		all := strings.Join(tab.bad, "\n")
		tab.mu.Unlock()
		if strings.Contains(all, "CSP") && strings.Contains(all, "inline") && strings.Contains(all, "example.invalid") && strings.Contains(all, "boom") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watchdog missed something; it saw:\n%s", all)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if x := pagesEval[bool](tab, `window.x === 1`); x {
		t.Errorf("an inline script ran despite the CSP")
	}
}
