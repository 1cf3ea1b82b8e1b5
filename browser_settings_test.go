package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserSettingsPreview(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, ts.URL, "acme")

	tab.run(chromedp.Navigate(ts.URL + "/settings"))
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	tab.waitJS("snippet", `document.getElementById("snippet").textContent === '<script src="`+ts.URL+`/widget.js" data-username="acme" data-color="#2563eb" data-text="#ffffff" async></script>'`, 5*time.Second)
	// "Open your chat window" uses a random consumer id, not one drawn
	// from the clock (issue 12, finding 11), and a new one on each visit.
	previewRE := regexp.MustCompile(`^/chatbot/acme/preview-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	openChat := func() string {
		return pagesEval[string](tab, `document.getElementById("open-chat").getAttribute("href")`)
	}
	first := openChat()
	if !previewRE.MatchString(first) {
		t.Errorf("open-chat href %q is not preview-<random UUID>", first)
	}
	tab.run(chromedp.Reload())
	tab.waitJS("settings again", `document.getElementById("open-chat").getAttribute("href") !== "#"`, 5*time.Second)
	if again := openChat(); again == first || !previewRE.MatchString(again) {
		t.Errorf("open-chat href after reload %q (before %q)", again, first)
	}
	pagesOpenAdvanced(tab)

	tab.run(
		pagesFill("headerBackgroundColor-hex", "#a1b"),
		pagesFill("chatbotName", "Acme <Support>"),
	)
	tab.waitJS("preview header colour", `getComputedStyle(document.querySelector("#preview .lcw-header")).backgroundColor === "rgb(170, 17, 187)"`, 5*time.Second)
	tab.waitJS("preview name", `document.querySelector("#preview .lcw-name").textContent === "Acme <Support>"`, 5*time.Second)
	tab.waitJS("colour picker follows", `document.getElementById("headerBackgroundColor").value === "#aa11bb"`, 5*time.Second)

	// An invalid colour is flagged and not previewed.
	tab.run(
		pagesFill("senderBackground-hex", "#12"),
	)
	tab.waitJS("invalid colour flagged", `document.getElementById("senderBackground-hex").getAttribute("aria-invalid") === "true"`, 5*time.Second)
	tab.run(
		pagesFill("senderBackground-hex", "#0a7d33"),
		chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)),
	)
	tab.waitJS("saved", `document.getElementById("style-saved").textContent.includes("Saved")`, 5*time.Second)
	tab.screenshot("settings")

	// Picture upload shows in the preview.
	pic := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(pic, pagesPNG(), 0o644); err != nil {
		t.Fatal(err)
	}
	tab.run(chromedp.SetUploadFiles(chromedp.ID("picture"), []string{pic}))
	tab.waitJS("picture in preview", `(() => { const i = document.querySelector("#preview img.lcw-avatar"); return !i.hidden && i.complete && i.naturalWidth > 0 })()`, 5*time.Second)

	// The visitor window shows the saved style.
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/style-check"))
	visitor.waitJS("visitor header colour", `getComputedStyle(document.querySelector(".lcw-header")).backgroundColor === "rgb(170, 17, 187)"`, 5*time.Second)
	visitor.waitJS("visitor name", `document.getElementById("name").textContent === "Acme <Support>"`, 5*time.Second)
	visitor.waitJS("visitor picture", `(() => { const i = document.getElementById("avatar-img"); return !i.hidden && i.complete && i.naturalWidth > 0 })()`, 5*time.Second)
	if got := pagesEval[string](visitor, `getComputedStyle(document.documentElement.querySelector(".lcw")).getPropertyValue("--send-bg").trim()`); got != "#0a7d33" {
		t.Errorf("visitor --send-bg = %q, want #0a7d33", got)
	}

	// Picture removal.
	tab.run(chromedp.Click(chromedp.ID("picture-remove")))
	tab.waitJS("picture removed", `document.querySelector("#preview img.lcw-avatar").hidden && !document.querySelector("#preview div.lcw-avatar").hidden`, 5*time.Second)

	tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("snippet-h").scrollIntoView()`))
	tab.screenshot("settings-snippet")

	// Change password: a wrong old password is flagged at its field.
	tab.run(
		chromedp.SendKeys(chromedp.ID("old_password"), "not my password"),
		chromedp.SendKeys(chromedp.ID("new_password"), "a new password"),
		chromedp.Click(chromedp.CSS(`#pw-form button[type="submit"]`)),
	)
	tab.waitJS("wrong old password", `document.getElementById("old_password-error").textContent !== ""`, 5*time.Second)
	tab.run(
		pagesFill("old_password", testPassword),
		chromedp.Click(chromedp.CSS(`#pw-form button[type="submit"]`)),
	)
	tab.waitJS("password changed", `document.getElementById("pw-saved").textContent.includes("changed")`, 5*time.Second)

	// Sign out: back to the landing page; the inbox now asks to sign in.
	tab.run(chromedp.Click(chromedp.CSS(`.topbar .js-signout`)))
	tab.waitJS("signed out", `location.pathname === "/" && document.querySelector('a[href="/signup"]')`, 5*time.Second)
	tab.run(chromedp.Navigate(ts.URL + "/messages"))
	tab.waitJS("sent to sign in", `location.pathname === "/signin"`, 5*time.Second)
}

// A session that ends while a page is open (signed out in another tab, the
// password changed elsewhere): the next action goes to the sign-in page
// instead of showing an error the admin cannot fix there.
func TestBrowserSessionEndsMidPage(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	pagesEval[int](tab, `fetch("/accounts/api/logout", { method: "POST" }).then(r => r.status)`)
	tab.run(pagesFill("chatbotName", "New name"), chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)))
	tab.waitJS("the sign-in page", `location.pathname === "/signin"`, 5*time.Second)
}

// The settings snippet names this server's real origin, and Copy puts it on
// the clipboard, or, where the clipboard is refused, selects it.
func TestBrowserSnippetCopy(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("settings", `document.getElementById("snippet").textContent`, 5*time.Second)
	want := `<script src="` + ts.URL + `/widget.js" data-username="acme" data-color="#2563eb" data-text="#ffffff" async></script>`
	if got := pagesEval[string](tab, `document.getElementById("snippet").textContent`); got != want {
		t.Errorf("snippet = %q, want %q", got, want)
	}
	tab.run(chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = async (s) => { window.clipped = s; }`))
	tab.run(chromedp.Click(chromedp.ID("copy")))
	tab.waitJS("copied", `document.getElementById("copied").textContent === "✓ Copied"`, 2*time.Second)
	if got := pagesEval[string](tab, `window.clipped`); got != want {
		t.Errorf("copied %q, want %q", got, want)
	}
	tab.run(chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = async () => { throw new DOMException("denied", "NotAllowedError"); }`))
	tab.run(chromedp.Click(chromedp.ID("copy")))
	tab.waitJS("selected instead", `document.getElementById("copied").textContent.startsWith("Selected")`, 2*time.Second)
	if got := pagesEval[string](tab, `getSelection().toString()`); got != want {
		t.Errorf("selection = %q, want %q", got, want)
	}
}

// The avatar letter is the name's first character, also when that is an
// emoji (outside the BMP): the script agrees with the server's initial.
func TestBrowserAvatarInitialEmoji(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesSettingsTab(t, browser, ts.URL, "acme")
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	tab.run(pagesFill("chatbotName", "x"), chromedp.Evaluate[chromedp.Void](
		`(el => { el.value = "🚲 Nordic Bikes"; el.dispatchEvent(new Event("input", {bubbles: true})) })(document.getElementById("chatbotName"))`))
	if got := pagesEval[string](tab, `document.querySelector("#preview .js-avatar-initial").textContent`); got != "🚲" {
		t.Errorf("preview avatar letter = %q, want %q", got, "🚲")
	}
}
