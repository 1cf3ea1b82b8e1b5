package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The visitor window's "Email me this conversation": hidden until the
// visitor gave an email (mail on), then it sends the transcript through
// the real SMTP test server and shows the server's answer, the 10-minute
// limit included; after a reload (and without the browser's memory of
// the email) the server's data-has-email shows it.
func TestBrowserEmailTranscript(t *testing.T) {
	browser := pagesBrowser(t)
	st := startSMTP(t, false, "")
	ts := mailServer(t, st, false, "")
	admin := ts.client().signup("acme")
	admin.must(200, "POST", "/chatbot/api", map[string]any{"askEmail": "always"})
	ts.dialWS("/ws/chat/acme/vera", nil).say("Where is my parcel?")

	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/vera"))
	tab.waitJS("the email form", `!document.getElementById("email-form").hidden && document.querySelectorAll("#messages li").length === 1`, 5*time.Second)
	if !pagesEval[bool](tab, `document.getElementById("transcript").hidden`) {
		t.Fatal("the transcript button shows before any email was given")
	}
	tab.run(pagesFill("email", "vera@visitor.example"), chromedp.Click(chromedp.CSS(`#email-form button[type="submit"]`)))
	tab.waitJS("the transcript button", `!document.getElementById("transcript").hidden`, 5*time.Second)
	waitFor(t, "the room's email", func() bool {
		r := admin.must(200, "GET", "/chatbot/api/rooms", nil)
		rooms, _ := r.JSON["rooms"].([]any)
		return len(rooms) == 1 && rooms[0].(map[string]any)["consumer_email"] == "vera@visitor.example"
	})

	tab.run(chromedp.Click(chromedp.ID("transcript-send")))
	tab.waitJS("sent", `document.getElementById("transcript-status").textContent.startsWith("Sent")`, 5*time.Second)
	got := st.waitReceived(1, 10*time.Second, 200*time.Millisecond)
	if len(got[0].To) != 1 || got[0].To[0] != "vera@visitor.example" || !strings.Contains(string(got[0].Data), "Where is my parcel?") {
		t.Errorf("mail to %v:\n%s", got[0].To, got[0].Data)
	}
	tab.run(chromedp.Click(chromedp.ID("transcript-send")))
	tab.waitJS("the limit", `document.getElementById("transcript-status").textContent.includes("few minutes")`, 5*time.Second)

	tab.run(chromedp.Evaluate[chromedp.Void](`localStorage.clear()`), chromedp.Navigate(ts.URL+"/chatbot/acme/vera"))
	tab.waitJS("the button from the server", `document.querySelectorAll("#messages li").length === 1 && !document.getElementById("transcript").hidden`, 5*time.Second)
	if n := len(st.Received()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}
