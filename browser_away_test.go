package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// statusJS is the visitor window's header status: its text, and "|online"
// when it shows the green dot.
const statusJS = `document.getElementById("status").textContent + (document.getElementById("status").classList.contains("is-online") ? "|online" : "")`

// Outside hours the visitor window shows the away state (never "Online"),
// asks for an email as askEmail "away" says and stores it on the room; the
// away message comes back once. While the socket reconnects the header
// does not claim "Online" either.
func TestBrowserAwayStateAndEmail(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	admin.must(200, "POST", "/chatbot/api", map[string]any{"hours": parisWeekdays})
	ts.setClock(t, "2026-12-07 18:00") // Monday evening: closed
	// An agent online does not make a closed business answer.
	ts.dialWS("/ws/room/acme", admin)

	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/away-visitor"))
	tab.waitJS("connected", `document.getElementById("offline").hidden`, 10*time.Second)
	tab.waitJS("the away state", statusJS+`.startsWith("Away — back ")`, 5*time.Second)
	tab.waitJS("the email form", `!document.getElementById("email-form").hidden && document.getElementById("email-label").textContent.includes("away")`, 5*time.Second)
	tab.screenshot("away")

	pagesSend(tab, "Is anyone there?")
	tab.waitJS("the away message", pagesCount(defaultAwayMessage)+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
	pagesSend(tab, "Hello?")
	tab.waitJS("the second message", pagesCount("Hello?")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
	if n := pagesEval[int](tab, pagesCount(defaultAwayMessage)); n != 1 {
		t.Errorf("away message shown %d times, want once", n)
	}

	// A malformed email is refused in the form; a good one is stored on the room.
	tab.run(pagesFill("email", "not an email"), chromedp.Click(chromedp.CSS(`#email-form button[type="submit"]`)))
	time.Sleep(200 * time.Millisecond)
	if pagesEval[bool](tab, `document.getElementById("email-form").hidden`) {
		t.Error("a malformed email was taken")
	}
	tab.run(pagesFill("email", "visitor@example.com"), chromedp.Click(chromedp.CSS(`#email-form button[type="submit"]`)))
	tab.waitJS("the form gone", `document.getElementById("email-form").hidden`, 5*time.Second)
	waitFor(t, "the email on the room", func() bool {
		return strings.Contains(string(admin.must(200, "GET", "/chatbot/api/rooms", nil).Body), `"consumer_email":"visitor@example.com"`)
	})
	// Given once, not asked again.
	tab.run(chromedp.Reload())
	tab.waitJS("reloaded", `document.getElementById("offline").hidden && `+statusJS+`.startsWith("Away")`, 10*time.Second)
	if pagesEval[bool](tab, `!document.getElementById("email-form").hidden`) {
		t.Error("the email form came back after the email was given")
	}

	// Within hours with an agent online: Online, and no email form for
	// askEmail "away".
	ts.setClock(t, "2026-12-08 10:00")
	other := pagesNewTab(t, browser, true)
	other.run(chromedp.Navigate(ts.URL + "/chatbot/acme/open-visitor"))
	other.waitJS("online", `document.getElementById("offline").hidden && `+statusJS+` === "Online|online"`, 10*time.Second)
	if pagesEval[bool](other, `!document.getElementById("email-form").hidden`) {
		t.Error("email form shown while open with askEmail away")
	}

	// The server goes away: "Reconnecting…", not "Online"; it comes back.
	ts.Close()
	other.waitJS("reconnecting", statusJS+` === "Reconnecting…" && !document.getElementById("offline").hidden`, 10*time.Second)
	ts.start()
	// The agent's socket went with the old server: away (nobody online).
	other.waitJS("back", `document.getElementById("offline").hidden && `+statusJS+` === "Away — leave a message"`, 20*time.Second)
}

// askEmail "always" asks before the first message, also when open;
// "never" never asks, also when away.
func TestBrowserAskEmailModes(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	ts.dialWS("/ws/room/acme", admin)

	admin.must(200, "POST", "/chatbot/api", map[string]any{"askEmail": "always"})
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/always-visitor"))
	tab.waitJS("online", `document.getElementById("offline").hidden && `+statusJS+` === "Online|online"`, 10*time.Second)
	tab.waitJS("the email form before any message", `!document.getElementById("email-form").hidden && document.querySelectorAll("#messages li").length === 0`, 5*time.Second)
	// Declined: gone, and not back after sending.
	tab.run(chromedp.Click(chromedp.ID("email-close")))
	pagesSend(tab, "No email from me")
	tab.waitJS("sent", pagesCount("No email from me")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
	if pagesEval[bool](tab, `!document.getElementById("email-form").hidden`) {
		t.Error("the email form came back after being declined")
	}

	admin.must(200, "POST", "/chatbot/api", map[string]any{"askEmail": "never", "hours": map[string]any{"timezone": "UTC", "week": map[string]any{}}})
	never := pagesNewTab(t, browser, true)
	never.run(chromedp.Navigate(ts.URL + "/chatbot/acme/never-visitor"))
	never.waitJS("away", `document.getElementById("offline").hidden && `+statusJS+` === "Away — leave a message"`, 10*time.Second)
	pagesSend(never, "Closed for good?")
	never.waitJS("the away message", pagesCount(defaultAwayMessage)+" === 1", 5*time.Second)
	if pagesEval[bool](never, `!document.getElementById("email-form").hidden`) {
		t.Error(`the email form shown with askEmail "never"`)
	}
}

// A burst past the rate limit: the window says so and sends the refused
// messages by itself; none is lost or stored twice.
func TestBrowserRateLimitRetry(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, func(c *Config) {
		c.RateMessages = 3
		c.RateWindow = 1500 * time.Millisecond
	})
	admin := ts.client().signup("acme")
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/burst-visitor"))
	tab.waitJS("connected", `document.getElementById("offline").hidden`, 10*time.Second)
	// Eight messages at once, as fast as a script can press Send.
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => {
		const text = document.getElementById("text"), form = document.getElementById("composer");
		for (let i = 1; i <= 8; i++) { text.value = "burst " + i; form.requestSubmit(); }
	})()`))
	tab.waitJS("the rate-limit notice", `!document.getElementById("notice").hidden && document.getElementById("notice").textContent.includes("quickly")`, 5*time.Second)
	tab.screenshot("rate-limited")
	if n := pagesEval[int](tab, `[...document.querySelectorAll("#messages .is-pending .lcw-meta")].filter(m => m.textContent === "Waiting to send…").length`); n == 0 {
		t.Error("no message says it is waiting")
	}
	tab.waitJS("every message sent", `!document.querySelector("#messages .is-pending") && document.getElementById("notice").hidden`, 30*time.Second)
	var got []string
	for _, m := range admin.must(200, "GET", "/chatbot/api/rooms/burst-visitor/messages", nil).JSON["messages"].([]any) {
		got = append(got, m.(map[string]any)["content"].(string))
	}
	want := []string{"burst 1", "burst 2", "burst 3", "burst 4", "burst 5", "burst 6", "burst 7", "burst 8"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("stored %q, want %q", got, want)
	}
	for i := 1; i <= 8; i++ {
		if n := pagesEval[int](tab, pagesCount(fmt.Sprintf("burst %d", i))); n != 1 {
			t.Errorf("burst %d shown %d times", i, n)
		}
	}
}

// A file over the upload limit is refused before it is sent; a failed
// upload can be retried, or dismissed.
func TestBrowserUploadLimitAndRetry(t *testing.T) {
	browser := pagesBrowser(t)
	var uploads sync.Map // counts upload requests reaching the server
	ts := newTestServer(t, noMessageRate, func(c *Config) { c.MaxUpload = 1000 })
	admin := ts.client().signup("acme")
	wrap := ts.HTTP.Config.Handler
	ts.HTTP.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chatbot/message/file/upload" {
			n, _ := uploads.LoadOrStore("n", new(int))
			*(n.(*int))++
		}
		wrap.ServeHTTP(w, r)
	})
	dir := t.TempDir()
	big := filepath.Join(dir, "big.txt")
	small := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 1001)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(small, []byte("a small note"), 0o644); err != nil {
		t.Fatal(err)
	}

	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/upload-visitor"))
	tab.waitJS("connected", `document.getElementById("offline").hidden`, 10*time.Second)
	if got := pagesEval[string](tab, `document.getElementById("chat").dataset.maxUpload`); got != "1000" {
		t.Fatalf("data-max-upload = %q", got)
	}
	tab.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{big}))
	tab.waitJS("the refusal", `document.querySelector("#messages .is-failed .lcw-meta")?.textContent.includes("Too large to send: at most 1000 bytes.")`, 5*time.Second)
	if _, ok := uploads.Load("n"); ok {
		t.Error("the too-large file was uploaded")
	}
	if pagesEval[bool](tab, `!!document.querySelector("#messages .is-failed .lcw-retry")`) {
		t.Error("a too-large file offers Retry")
	}
	tab.run(chromedp.Click(chromedp.CSS(`#messages .is-failed .lcw-dismiss`)))
	tab.waitJS("dismissed", `!document.querySelector("#messages li")`, 5*time.Second)

	// The server is down: the upload fails and offers Retry; once the
	// server is back, Retry sends it.
	ts.Close()
	tab.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{small}))
	tab.waitJS("the failure", `document.querySelector("#messages .is-failed .lcw-retry")`, 10*time.Second)
	ts.start()
	tab.run(chromedp.Click(chromedp.CSS(`#messages .is-failed .lcw-retry`)))
	tab.waitJS("the file sent", pagesCount("small.txt")+` === 1 && !document.querySelector("#messages .is-failed, #messages .is-pending")`, 10*time.Second)
	msgs := admin.must(200, "GET", "/chatbot/api/rooms/upload-visitor/messages", nil).JSON["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["content"] != "small.txt" {
		t.Errorf("stored: %v", msgs)
	}
}

// The widget's button has the business colour from the first page load,
// before it is ever opened; the host page gets no console warning or
// error, first open included; and a returning visitor sees the unread dot
// for an answer that came while they were away.
func TestBrowserWidgetColourAndQuietHost(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	admin.must(200, "POST", "/chatbot/api", map[string]any{"headerBackgroundColor": "#ff5500"})
	appOrigin := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	// The snippet from settings carries the header colours (settings.js),
	// so the button has them before anything else is loaded.
	host := pagesHostSiteWith(t, appOrigin, ` data-color="#ff5500" data-text="#ffffff"`)

	site := pagesNewTab(t, browser, true)
	var mu sync.Mutex
	var noise []string
	err := chromedp.Listen(site.ctx, func(ev any) {
		var s string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeError {
				s = fmt.Sprintf("console.%s", ev.Type)
				for _, a := range ev.Args {
					s += " " + string(a.Value) + a.Description
				}
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelWarning || ev.Entry.Level == cdplog.EntryLevelError {
				s = fmt.Sprintf("log %s: %s", ev.Entry.Level, ev.Entry.Text)
			}
		}
		if s != "" {
			mu.Lock()
			noise = append(noise, s)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	site.run(chromedp.Navigate(host.URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	site.waitJS("the business colour", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".btn")).backgroundColor === "rgb(255, 85, 0)"`), 5*time.Second)
	if n := pagesEval[int](site, pagesWidgetJS(`return sr.querySelectorAll("iframe").length`)); n != 0 {
		t.Errorf("the colour came with an iframe: %d", n)
	}
	site.screenshot("colour")

	// First open.
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	id := ""
	site.waitJS("the visitor id", `localStorage.getItem("livechat:`+appOrigin+`:acme")`, 5*time.Second)
	id = pagesEval[string](site, `localStorage.getItem("livechat:`+appOrigin+`:acme")`)
	frameURL := appOrigin + "/chatbot/acme/" + id
	frame := pagesFrame(t, site, frameURL)
	frame.waitJS("connected", `document.getElementById("offline").hidden`, 10*time.Second)
	pagesSend(frame, "Hello from the site")
	frame.waitJS("sent", pagesCount("Hello from the site")+` === 1 && !document.querySelector("#messages .is-pending")`, 5*time.Second)
	agent := ts.dialWS("/ws/chat/acme/"+id, admin)
	answer := func(text string) {
		t.Helper()
		agent.send(map[string]any{"command": "new_message", "message": map[string]any{"content": text}})
		for f := agent.next(); f.str("command") != "new_message"; f = agent.next() {
		}
	}
	answer("Hi! Looking into it.")
	frame.waitJS("the answer", pagesCount("Hi! Looking into it.")+" === 1", 5*time.Second)
	// Read while open: no dot.
	time.Sleep(300 * time.Millisecond)

	// The visitor leaves; the answer comes while they are away.
	site.run(chromedp.Navigate("about:blank"))
	answer("Found it: your order ships tomorrow.")
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("the unread dot for the returning visitor", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".dot")).display === "block"`), 10*time.Second)
	site.waitJS("the colour again", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".btn")).backgroundColor === "rgb(255, 85, 0)"`), 5*time.Second)
	// Opening it shows the answer and clears the dot.
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("no dot", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".dot")).display === "none"`), 5*time.Second)

	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range noise {
		t.Errorf("host page: %s", s)
	}
}

// The settings' hours editor: a preview line from what is being edited,
// saving hours, away message and askEmail, field errors from the server.
func TestBrowserSettingsHours(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("the hours section", `document.getElementById("hours-preview").textContent.startsWith("Always open")`, 5*time.Second)
	if !pagesEval[bool](tab, `document.getElementById("hours-editor").hidden && !document.getElementById("hours-on").checked`) {
		t.Error("hours editor shown for a chatbot without hours")
	}

	// The preview's rule, at fixed times.
	got := pagesEval[[]string](tab, `import("/static/js/hours.js").then(({ previewText }) => {
		const h = { timezone: "Europe/Paris", week: { mon: [["09:00", "17:00"]], tue: [["09:00", "17:00"]], fri: [["22:00", "02:00"]] } };
		return [
			previewText(h, { day: "mon", min: 600 }),
			previewText(h, { day: "mon", min: 1020 }),
			previewText(h, { day: "tue", min: 1100 }),
			previewText(h, { day: "sat", min: 60 }),
			previewText(h, { day: "sat", min: 120 }),
			previewText({ timezone: "UTC", week: {} }, { day: "mon", min: 0 }),
		];
	})`)
	want := []string{"Open now", "Opens Tue 09:00", "Opens Fri 22:00", "Open now", "Opens Mon 09:00", "Never open: visitors always see you as away."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("previews %q, want %q", got, want)
	}

	// Turn hours on: the editor starts from weekdays 09:00–17:00 in the
	// browser's zone; pick Paris, add Saturday morning.
	tab.run(chromedp.Click(chromedp.ID("hours-on")))
	tab.waitJS("the editor", `!document.getElementById("hours-editor").hidden && document.querySelectorAll("#hours-week .span").length === 5`, 5*time.Second)
	zones := pagesEval[int](tab, `document.querySelectorAll("#hours-tz option").length`)
	if zones < 100 {
		t.Errorf("%d time zones offered", zones)
	}
	tab.run(chromedp.SetValue(chromedp.CSS("#hours-tz"), "Europe/Paris"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("hours-tz").dispatchEvent(new Event("change"))`),
		chromedp.Click(chromedp.CSS(`#hours-week .day[data-day="sat"] .day-add`)))
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => {
		const end = document.querySelector('#hours-week .day[data-day="sat"] .span-end');
		end.value = "12:30";
		end.dispatchEvent(new Event("input", { bubbles: true }));
	})()`))
	tab.waitJS("a preview line", `/^(Open now|Opens (Mon|Tue|Wed|Thu|Fri|Sat) \d\d:\d\d)$/.test(document.getElementById("hours-preview").textContent)`, 5*time.Second)
	tab.run(chromedp.ScrollIntoView(chromedp.ID("hours-h")))
	tab.screenshot("hours")
	tab.run(pagesFill("awayMessage", "Closed now — back soon."),
		chromedp.SetValue(chromedp.CSS("#askEmail"), "always"),
		chromedp.Click(chromedp.CSS(`#hours-form button[type="submit"]`)))
	tab.waitJS("saved", `document.getElementById("hours-saved").textContent.includes("Saved")`, 5*time.Second)
	bot := admin.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)
	hours, _ := bot["hours"].(map[string]any)
	week, _ := hours["week"].(map[string]any)
	if hours["timezone"] != "Europe/Paris" || fmt.Sprint(week["sat"]) != "[[09:00 12:30]]" || fmt.Sprint(week["mon"]) != "[[09:00 17:00]]" ||
		fmt.Sprint(week["sun"]) != "[]" || bot["awayMessage"] != "Closed now — back soon." || bot["askEmail"] != "always" {
		t.Errorf("stored %v", bot)
	}

	// Overlapping spans: the server's error shows by the day; nothing changes.
	tab.run(chromedp.Click(chromedp.CSS(`#hours-week .day[data-day="tue"] .day-add`)))
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.querySelectorAll('#hours-week .day[data-day="tue"] .span-start')[1];
		s.value = "16:00";
		s.dispatchEvent(new Event("input", { bubbles: true }));
	})()`))
	tab.run(chromedp.Click(chromedp.CSS(`#hours-form button[type="submit"]`)))
	tab.waitJS("the overlap error", `document.getElementById("hours.week.tue-error").textContent.includes("overlaps")`, 5*time.Second)
	after := admin.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)
	if fmt.Sprint(after["hours"]) != fmt.Sprint(bot["hours"]) {
		t.Errorf("a refused save changed the hours: %v", after["hours"])
	}

	// Hours off again: always open.
	tab.run(chromedp.Click(chromedp.ID("hours-on")), chromedp.Click(chromedp.CSS(`#hours-form button[type="submit"]`)))
	tab.waitJS("saved", `document.getElementById("hours-saved").textContent.includes("Saved")`, 5*time.Second)
	if h := admin.must(200, "GET", "/chatbot/api", nil).JSON["chatbot_details"].(map[string]any)["hours"]; h != nil {
		t.Errorf("hours after turning them off: %v", h)
	}
}
