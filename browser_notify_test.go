package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserNotifySettings: settings show the Notifications section:
// push for this browser, mail working, and "Send a test email" delivers to
// the SMTP server and the status says so. The inbox tells the server when
// it is hidden.
func TestBrowserNotifySettings(t *testing.T) {
	chrome := pagesBrowser(t)
	st := startSMTP(t, false, "")
	ts := notifyServer(t, st, noMessageRate)
	owner := ts.client().signup("acme")
	owner.must(200, "PATCH", "/accounts/api/me", map[string]any{"email": "owner@acme.example"})
	u, err := ts.DB.UserByName(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}

	tab := pagesNewTab(t, chrome, true)
	pagesSignIn(tab, ts.URL, "acme")
	// The inbox reports its visibility on its room socket.
	tab.waitJS("the room socket", `document.getElementById("offline").hidden`, 5*time.Second)
	waitFor(t, "a visible inbox", func() bool { return ts.Server.hub.InboxVisible(u.ID) })
	tab.run(chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true}); document.dispatchEvent(new Event("visibilitychange"))`))
	waitFor(t, "the inbox hidden", func() bool { return !ts.Server.hub.InboxVisible(u.ID) })

	tab.run(chromedp.Navigate(ts.URL + "/settings"))
	tab.waitJS("the push toggle", `!document.getElementById("push-toggle").hidden && document.getElementById("push-toggle").textContent === "Turn on notifications" && document.getElementById("push-state").textContent === "Off in this browser."`, 5*time.Second)
	tab.waitJS("mail working", `document.getElementById("notify-section").dataset.mail === "on" && document.getElementById("mail-state").textContent.startsWith("Working")`, 5*time.Second)
	tab.run(chromedp.Click(chromedp.ID("mail-test")))
	tab.waitJS("the test email queued", `document.getElementById("mail-test-result").textContent === "The test email is on its way to owner@acme.example."`, 5*time.Second)
	got := waitMails(t, st, "owner@acme.example", 1, 5*time.Second)[0]
	if got.Header.Get("Subject") != "livechat test email" {
		t.Errorf("test email subject %q", got.Header.Get("Subject"))
	}
	tab.waitJS("status: last sent", `document.getElementById("mail-state").textContent.startsWith("Working: last email sent")`, 5*time.Second)
}

// TestBrowserNotifySettingsMailOff: without --smtp, settings say mail is
// off and offer no test email.
func TestBrowserNotifySettingsMailOff(t *testing.T) {
	chrome := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesSettingsTab(t, chrome, ts.URL, "acme")
	tab.waitJS("mail off", `document.getElementById("notify-section").dataset.mail === "off" && document.getElementById("mail-test").hidden && document.getElementById("mail-state").textContent.startsWith("Mail is off")`, 5*time.Second)
}
