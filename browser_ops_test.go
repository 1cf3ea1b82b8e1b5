package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWidgetLoadsNothingUntilOpened: on a business's page, the
// widget fetches widget.js from livechat and nothing else (no frame, no
// stylesheet, no socket) until the visitor clicks the button.
func TestBrowserWidgetLoadsNothingUntilOpened(t *testing.T) {
	browser := pagesBrowser(t)
	app := newTestServer(t, noMessageRate)
	app.client().signup("acme")
	appOrigin := strings.Replace(app.URL, "127.0.0.1", "localhost", 1)
	host := pagesHostSite(t, appOrigin)

	site := pagesNewTab(t, browser, true)
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	time.Sleep(500 * time.Millisecond) // room for anything loaded late
	fromApp := `performance.getEntriesByType("resource").map(e => e.name).filter(n => n.startsWith("` + appOrigin + `"))`
	if got := pagesEval[[]string](site, fromApp); len(got) != 1 || got[0] != appOrigin+"/widget.js" {
		t.Errorf("before the click the page loaded from livechat: %q, want only widget.js", got)
	}
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("the chat window loading", fromApp+`.some(n => n.includes("/chatbot/acme/"))`, 5*time.Second)
}
