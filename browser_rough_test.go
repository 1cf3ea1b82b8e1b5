package main

// Browser tests of the rough edges a new user hit (issue 13, items 1–8).

import (
	"testing"
	"time"

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
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, ts.URL, "acme")
	tab.run(chromedp.Navigate(ts.URL + "/settings"))
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
	// Fixed, it saves.
	tab.run(
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
