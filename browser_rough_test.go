package main

// Browser tests of the rough edges a new user hit (issue 13, items 1–8).

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// Signup shows every field's error at once, each under its field, and a
// field's hint gives way to its error instead of saying the same thing.
func TestBrowserSignupAllFieldErrors(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	tab := pagesNewTab(t, browser, true)
	tab.run(
		chromedp.Navigate(ts.URL+"/signup"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "Bad Name!"),
		chromedp.SendKeys(chromedp.ID("email"), "not-an-email"),
		chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("three field errors", `["username", "email", "password"].every(f => document.getElementById(f + "-error").textContent !== "")`, 5*time.Second)
	// Each error is visible, right under its own field.
	for _, f := range []string{"username", "email", "password"} {
		if !pagesEval[bool](tab, `(() => {
			const input = document.getElementById("`+f+`"), err = document.getElementById("`+f+`-error");
			const r = err.getBoundingClientRect();
			return r.height > 0 && err.closest(".field") === input.closest(".field") && input.getAttribute("aria-invalid") === "true";
		})()`) {
			t.Errorf("the %s error is not shown under its field", f)
		}
	}
	// No sentence is said twice in a field (hint and error).
	visible := `(f => [...f.querySelectorAll(".hint, .error")].filter(el => el.getClientRects().length > 0).map(el => el.textContent.trim()))`
	for _, f := range []string{"username", "password"} {
		texts := pagesEval[[]string](tab, visible+`(document.getElementById("`+f+`").closest(".field"))`)
		seen := map[string]bool{}
		for _, s := range texts {
			if seen[s] {
				t.Errorf("%s field repeats %q: %q", f, s, texts)
			}
			seen[s] = true
		}
		if len(texts) != 1 {
			t.Errorf("%s field shows %q, want only its error", f, texts)
		}
	}
	tab.screenshot("signup-all-errors")
	// Fixing the fields brings the hints back and signs up.
	tab.run(
		pagesFill("username", "bad-name"),
		pagesFill("email", "owner@example.com"),
		pagesFill("password", "correct horse"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("the inbox after signup", `location.pathname === "/messages"`, 10*time.Second)
}

// Settings refuses an invalid colour with an error on its field instead of
// "✓ Saved" and a box that quietly reverts; nothing is stored.
func TestBrowserSettingsInvalidColour(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	pagesOpenAdvanced(tab)
	tab.run(
		pagesFill("headerBackgroundColor-hex", "white"),
		chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)),
	)
	tab.waitJS("the colour's error", `document.getElementById("headerBackgroundColor-error").textContent.includes("#")`, 5*time.Second)
	if got := pagesEval[string](tab, `document.getElementById("style-saved").textContent`); got != "" {
		t.Errorf("saved message %q after an invalid colour", got)
	}
	if got := pagesEval[string](tab, `document.getElementById("headerBackgroundColor-hex").value`); got != "white" {
		t.Errorf("hex box = %q, want the typed value kept", got)
	}
	if !pagesEval[bool](tab, `(el => el.getAttribute("aria-invalid") === "true" && el.getBoundingClientRect().height > 0)(document.getElementById("headerBackgroundColor-hex"))`) {
		t.Error("the hex box is not flagged invalid and visible")
	}
	var c struct {
		Chatbot Chatbot `json:"chatbot_details"`
	}
	ts.getJSON(admin, "/chatbot/api", 200, &c)
	if c.Chatbot.HeaderBackgroundColor != defaultChatbot("acme").HeaderBackgroundColor {
		t.Errorf("stored header colour = %q, want unchanged", c.Chatbot.HeaderBackgroundColor)
	}
	// The brand colour box too: refused, with its error, nothing saved.
	tab.run(
		pagesFill("headerBackgroundColor-hex", "#fff"),
		pagesFill("brandColor-hex", "white"),
		chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)),
	)
	tab.waitJS("the brand colour's error", `document.getElementById("brandColor-error").textContent.includes("#") && document.getElementById("brandColor-hex").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	if got := pagesEval[string](tab, `document.getElementById("style-saved").textContent`); got != "" {
		t.Errorf("saved message %q after an invalid brand colour", got)
	}
	// Fixed, it saves.
	tab.run(
		pagesFill("brandColor-hex", "#0f766e"),
		pagesFill("headerBackgroundColor-hex", "#fff"),
		chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)),
	)
	tab.waitJS("saved", `document.getElementById("style-saved").textContent.includes("Saved") && document.getElementById("headerBackgroundColor-error").textContent === ""`, 5*time.Second)
}

// pagesOpenAdvanced opens the settings' individual colours, if folded.
func pagesOpenAdvanced(tab *pagesTab) {
	tab.t.Helper()
	tab.run(chromedp.Evaluate[chromedp.Void](`(d => { if (d) d.open = true })(document.getElementById("advanced-colors"))`))
}

// The business name typed at signup is the chat window's name from the
// start.
func TestBrowserSignupNameIsChatbotName(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	tab := pagesNewTab(t, browser, true)
	tab.run(
		chromedp.Navigate(ts.URL+"/signup"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "nordic"),
		chromedp.SendKeys(chromedp.ID("name"), "Nordic Bikes <& Co>"),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("the inbox after signup", `location.pathname === "/messages"`, 10*time.Second)
	tab.run(chromedp.Navigate(ts.URL + "/settings"))
	tab.waitJS("settings name", `document.getElementById("chatbotName").value === "Nordic Bikes <& Co>"`, 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/nordic/first-visitor"))
	visitor.waitJS("the window's name", `document.getElementById("name").textContent === "Nordic Bikes <& Co>" && document.getElementById("avatar-initial").textContent === "N"`, 5*time.Second)
}

// wcagContrast is WCAG 2's contrast ratio of two #rrggbb colours, computed
// here independently of palette.js to check it.
func wcagContrast(t *testing.T, a, b string) float64 {
	t.Helper()
	lum := func(c string) float64 {
		var r, g, bl int
		if _, err := fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &bl); err != nil || len(c) != 7 {
			t.Fatalf("not a #rrggbb colour: %q", c)
		}
		lin := func(v int) float64 {
			s := float64(v) / 255
			if s <= 0.03928 {
				return s / 12.92
			}
			return math.Pow((s+0.055)/1.055, 2.4)
		}
		return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(bl)
	}
	x, y := lum(a), lum(b)
	if x < y {
		x, y = y, x
	}
	return (x + 0.05) / (y + 0.05)
}

// The text/background pairs of the chat window (palette.js textPairs).
var chatTextPairs = [][2]string{
	{"headerTextColor", "headerBackgroundColor"},
	{"introductionTextColor", "introductionBackgroundColor"},
	{"senderTextColor", "senderBackground"},
	{"receiverTextColor", "receiverBackground"},
	{"inputTextColor", "inputBarBackground"},
	{"inputTextColor", "background_color"},
}

// One brand colour derives a readable palette (every text colour at least
// 4.5:1 on its background, WCAG AA), shown live and saved; the eleven
// colours are under "Advanced", which warns about hard-to-read pairs.
func TestBrowserBrandColour(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("settings", `document.getElementById("brandColor-hex").value === "#2563eb"`, 5*time.Second)

	// The contrast math, against known WCAG values and this test's own.
	for _, c := range []struct {
		a, b string
		want float64
	}{{"#ffffff", "#000000", 21}, {"#767676", "#ffffff", 4.54}, {"#777777", "#ffffff", 4.48}, {"#2563eb", "#ffffff", 5.17}, {"#fff", "#fff", 1}} {
		got := pagesEval[float64](tab, fmt.Sprintf(`import("/static/js/palette.js").then(p => p.contrast(%q, %q))`, c.a, c.b))
		if math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
	// Every brand colour, light, dark or mid-grey, gets readable text.
	for _, brand := range []string{"#ffd400", "#777777", "#767676", "#000000", "#ffffff", "#00ff00", "#ff0000", "#0000ff", "#2563eb", "#f97316", "#14b8a6", "#abc", "#808080", "#5a5a5a"} {
		p := pagesEval[map[string]string](tab, fmt.Sprintf(`import("/static/js/palette.js").then(p => p.derivePalette(%q))`, brand))
		if len(p) != 11 {
			t.Errorf("derivePalette(%s) has %d colours, want 11", brand, len(p))
		}
		for _, pair := range chatTextPairs {
			if r := wcagContrast(t, p[pair[0]], p[pair[1]]); r < 4.5 {
				t.Errorf("derivePalette(%s): %s %s on %s %s is %.2f:1, below 4.5", brand, pair[0], p[pair[0]], pair[1], p[pair[1]], r)
			}
		}
	}

	// The individual colours are folded away.
	if pagesEval[bool](tab, `document.getElementById("advanced-colors").open || document.getElementById("headerTextColor-hex").checkVisibility()`) {
		t.Error("the individual colours are not under a closed Advanced")
	}
	// A yellow brand: dark text on it, in the preview, live.
	tab.run(pagesFill("brandColor-hex", "#ffd400"))
	tab.waitJS("preview header in the brand colour", `getComputedStyle(document.querySelector("#preview .lcw-header")).backgroundColor === "rgb(255, 212, 0)"`, 5*time.Second)
	tab.waitJS("preview visitor bubble in the brand colour", `getComputedStyle(document.querySelector("#preview .lcw-msg.is-mine .lcw-bubble")).backgroundColor === "rgb(255, 212, 0)"`, 5*time.Second)
	if got := pagesEval[string](tab, `getComputedStyle(document.querySelector("#preview .lcw-header")).color`); got == "rgb(255, 255, 255)" {
		t.Errorf("white text on a yellow header")
	}
	if got := pagesEval[string](tab, `document.getElementById("contrast-warning").textContent`); got != "" {
		t.Errorf("contrast warning for a derived palette: %q", got)
	}
	tab.run(chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)))
	tab.waitJS("saved", `document.getElementById("style-saved").textContent.includes("Saved")`, 5*time.Second)
	var c struct {
		Chatbot map[string]any `json:"chatbot_details"`
	}
	ts.getJSON(admin, "/chatbot/api", 200, &c)
	if c.Chatbot["headerBackgroundColor"] != "#ffd400" {
		t.Errorf("saved header = %v", c.Chatbot["headerBackgroundColor"])
	}
	for _, pair := range chatTextPairs {
		text, _ := c.Chatbot[pair[0]].(string)
		bg, _ := c.Chatbot[pair[1]].(string)
		if r := wcagContrast(t, text, bg); r < 4.5 {
			t.Errorf("saved %s %s on %s %s is %.2f:1", pair[0], text, pair[1], bg, r)
		}
	}
	tab.docScreenshot("settings")

	// Advanced: an unreadable pair is pointed out.
	pagesOpenAdvanced(tab)
	tab.run(pagesFill("headerTextColor-hex", "#ffe000"))
	tab.waitJS("contrast warning", `document.getElementById("contrast-warning").textContent.includes("Header text")`, 5*time.Second)
}

// The settings preview says what the real window says (no promise the
// window never makes), and at tablet width it stays beside the form; on a
// phone it comes right after the chat window's form.
func TestBrowserSettingsPreviewIsTheRealWindow(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/preview-check"))
	visitor.waitJS("the visitor window", `document.getElementById("status").textContent !== ""`, 5*time.Second)
	realPlaceholder := pagesEval[string](visitor, `document.getElementById("text").placeholder`)
	realFooter := pagesEval[string](visitor, `document.querySelector(".lcw-footer").textContent`)

	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("settings", `document.querySelector("#preview .lcw-status")`, 5*time.Second)
	if got := pagesEval[string](tab, `document.querySelector("#preview .lcw-status").textContent`); got != "Online" && got != "Away — leave a message" {
		t.Errorf("preview status %q is not one the real window shows", got)
	}
	if pagesEval[bool](tab, `document.getElementById("preview").textContent.includes("usually replies")`) {
		t.Error("the preview still promises to reply in minutes")
	}
	if got := pagesEval[string](tab, `document.querySelector("#preview .lcw-input").textContent`); got != realPlaceholder {
		t.Errorf("preview composer %q, real window %q", got, realPlaceholder)
	}
	if got := pagesEval[string](tab, `document.querySelector("#preview .lcw-footer").textContent`); got != realFooter {
		t.Errorf("preview footer %q, real window %q", got, realFooter)
	}
	// The typing line is the real window's wording, with the name as typed.
	tab.run(pagesFill("chatbotName", "Nordic Bikes"))
	tab.waitJS("typing line", `document.querySelector("#preview .lcw-typing").textContent === "Nordic Bikes is typing…"`, 5*time.Second)

	// ~780 px: the preview is beside the form, not below all of it.
	tab.run(chromedp.EmulateViewport(780, 900))
	tab.waitJS("preview beside the form at 780 px", `(() => {
		const p = document.getElementById("preview").getBoundingClientRect();
		const f = document.getElementById("style-form").getBoundingClientRect();
		return p.left >= f.right && p.top < f.bottom && p.right <= innerWidth && document.documentElement.scrollWidth <= innerWidth;
	})()`, 5*time.Second)
	tab.screenshot("settings-780")
	// Phone: right after the chat window's card, before the picture's.
	tab.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	tab.waitJS("preview after the style card on a phone", `(() => {
		const p = document.getElementById("preview").getBoundingClientRect();
		const f = document.getElementById("style-form").getBoundingClientRect();
		const pic = document.getElementById("pic-h").getBoundingClientRect();
		return p.top >= f.bottom && p.bottom <= pic.top && document.documentElement.scrollWidth <= innerWidth;
	})()`, 5*time.Second)
}

// The inbox offers a readable transcript (HTML or plain text) besides the
// JSON data; visitor text in it is text, never markup.
func TestBrowserExportTranscript(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "transcript-visitor", "ann@example.com", `Hello <img src=x onerror=alert(1)>`, "Do you ship to Norway?")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, ts.URL, "acme")
	tab.openRoom("transcript-visitor")
	tab.waitJS("the conversation", pagesCount("Do you ship to Norway?")+" === 1", 5*time.Second)
	if pagesEval[bool](tab, `document.getElementById("export-html").checkVisibility()`) {
		t.Error("the export menu is open before it is asked for")
	}
	tab.run(chromedp.Click(chromedp.CSS(`#export-menu summary`)))
	tab.waitJS("the export menu", `["export-html", "export-text", "export"].every(id => document.getElementById(id).checkVisibility())`, 5*time.Second)
	tab.screenshot("export-menu")
	base := `/chatbot/api/rooms/transcript-visitor/export`
	for id, want := range map[string]string{"export-html": base + "?format=html", "export-text": base + "?format=text", "export": base} {
		if got := pagesEval[string](tab, `document.getElementById("`+id+`").getAttribute("href")`); got != want {
			t.Errorf("%s href = %q, want %q", id, got, want)
		}
	}
	// The HTML transcript, as the browser parses it: the visitor's markup
	// is text, and nothing in it runs.
	got := pagesEval[map[string]any](tab, `fetch(document.getElementById("export-html").href).then(async r => {
		// (Its own <style> is left out: this page's CSP would report it.)
		const doc = new DOMParser().parseFromString((await r.text()).replace(/<style>[\s\S]*?<\/style>/, ""), "text/html");
		return {
			disposition: r.headers.get("Content-Disposition"),
			scripts: doc.querySelectorAll("script, img, [onerror]").length,
			first: doc.querySelector("li .text").textContent,
			title: doc.querySelector("h1").textContent,
			n: doc.querySelectorAll("li").length,
		};
	})`)
	if got["disposition"] != `attachment; filename="conversation-transcript-visitor.html"` || got["scripts"] != 0.0 ||
		got["first"] != `Hello <img src=x onerror=alert(1)>` || got["title"] != "Conversation with Visitor (ann@example.com)" || got["n"] != 2.0 {
		t.Errorf("HTML transcript = %v", got)
	}
	text := pagesEval[string](tab, `fetch(document.getElementById("export-text").href).then(r => r.text())`)
	if !strings.Contains(text, "Visitor (ann@example.com):\n    Do you ship to Norway?\n") {
		t.Errorf("text transcript:\n%s", text)
	}
	// Choosing a format closes the menu.
	tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("export-menu").addEventListener("click", ev => { if (ev.target.closest("a")) ev.preventDefault() }, true)`))
	tab.run(chromedp.Click(chromedp.ID("export-text")))
	tab.waitJS("menu closed", `!document.getElementById("export-menu").open`, 5*time.Second)
}

// pagesConsoleErrors records the console's error entries of a tab (a
// failed resource load, such as a missing favicon, is one).
func pagesConsoleErrors(tab *pagesTab) func() []string {
	var mu sync.Mutex
	var errs []string
	if err := chromedp.Listen(tab.ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry.Level == cdplog.EntryLevelError {
			mu.Lock()
			errs = append(errs, e.Entry.Text+" "+e.Entry.URL)
			mu.Unlock()
		}
	}); err != nil {
		tab.t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// Visual seams: the window's "Powered by" footer sits flush under the
// composer and on the window's bottom edge; the visitor window has a
// favicon (no 404 in the console); on a phone the landing page's demo
// shows its last bubble above "… is typing".
func TestBrowserVisualSeams(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")

	visitor := pagesNewTab(t, browser, true)
	consoleErrors := pagesConsoleErrors(visitor)
	visitor.run(
		chromedp.EmulateViewport(380, 640),
		chromedp.Navigate(ts.URL+"/chatbot/acme/seams-visitor"),
	)
	visitor.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	visitor.waitJS("footer flush with the composer and the bottom edge", `(() => {
		const f = document.querySelector(".lcw-footer"), c = document.getElementById("composer");
		const fr = f.getBoundingClientRect(), cr = c.getBoundingClientRect(), s = getComputedStyle(f);
		return Math.abs(fr.top - cr.bottom) < 0.5 && Math.abs(fr.bottom - innerHeight) < 0.5 &&
			s.marginTop === "0px" && s.marginBottom === "0px" && s.backgroundColor === getComputedStyle(c).backgroundColor;
	})()`, 5*time.Second)
	icon := pagesEval[string](visitor, `document.querySelector('link[rel~="icon"]')?.href || ""`)
	if icon == "" {
		t.Error("the visitor window has no favicon link")
	} else if !pagesEval[bool](visitor, `fetch(document.querySelector('link[rel~="icon"]').href).then(r => r.ok && r.headers.get("Content-Type").startsWith("image/"))`) {
		t.Errorf("favicon %s does not load as an image", icon)
	}
	// Give the browser its moment to ask for a favicon, then look.
	time.Sleep(500 * time.Millisecond)
	for _, e := range consoleErrors() {
		t.Errorf("console error in the visitor window: %s", e)
	}

	landing := pagesNewTab(t, browser, true)
	landing.run(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(ts.URL+"/"),
	)
	landing.waitJS("landing", `document.querySelector(".hero-demo .lcw")`, 5*time.Second)
	landing.run(chromedp.Evaluate[chromedp.Void](`document.querySelector(".hero-demo").scrollIntoView()`))
	landing.waitJS("the demo's last bubble above the typing line", `(() => {
		const bubbles = document.querySelectorAll(".hero-demo .lcw-bubble");
		const last = bubbles[bubbles.length - 1].getBoundingClientRect();
		const log = document.querySelector(".hero-demo .lcw-log").getBoundingClientRect();
		const typing = document.querySelector(".hero-demo .lcw-typing").getBoundingClientRect();
		return last.top >= log.top && last.bottom <= log.bottom && last.bottom <= typing.top;
	})()`, 5*time.Second)
	landing.screenshot("landing-phone")
}

// The widget's button takes the window's header colours, so its icon stays
// readable on a light brand colour.
func TestBrowserWidgetButtonReadable(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	admin.must(200, "POST", "/chatbot/api", map[string]string{"headerBackgroundColor": "#ffd400", "headerTextColor": "#0f172a"})
	host := pagesHostSite(t, strings.Replace(ts.URL, "127.0.0.1", "localhost", 1))
	site := pagesNewTab(t, browser, true)
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("the button in the header's colours", pagesWidgetJS(`const s = getComputedStyle(sr.querySelector(".btn")); return s.backgroundColor === "rgb(255, 212, 0)" && s.color === "rgb(15, 23, 42)"`), 10*time.Second)
}
