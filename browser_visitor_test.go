package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// A message's file is only ever shown as a link or image when it is one of
// our own /files/ URLs: a frame carrying another URL (another site, a
// javascript: or data: URL) shows as plain text, never as a link.
func TestBrowserFileLinksSameOriginOnly(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/file-guard"))
	tab.waitJS("the window", `document.getElementById("messages")`, 5*time.Second)
	got := pagesEval[[]string](tab, `import("/static/js/messages.js").then(({ fillBubble }) => [
		["/files/abc/ok.pdf", "application/pdf"],
		["/files/abc/pic.png", "image/png"],
		["https://evil.example/files/x.pdf", "application/pdf"],
		["//evil.example/files/pic.png", "image/png"],
		["javascript:alert(1)", "application/pdf"],
		["data:text/html,hi", "text/html"],
		["/accounts/api/logout", "application/pdf"],
	].map(([file, type]) => {
		const b = document.createElement("div");
		fillBubble(b, { content: "name", file, type });
		const a = b.querySelector("a"), img = b.querySelector("img");
		return (a ? "a:" + a.getAttribute("href") : "text") + (img ? " img:" + img.getAttribute("src") : "");
	}))`)
	want := []string{"a:/files/abc/ok.pdf", "a:/files/abc/pic.png img:/files/abc/pic.png", "text", "text", "text", "text", "text"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("bubbles = %q, want %q", got, want)
	}
}

// The visitor window framed by some other page than our widget (no
// widget to say it is open) sends "Seen" once the visitor is in it.
func TestBrowserSeenWhenFramedWithoutWidget(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	appOrigin := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	frameURL := appOrigin + "/chatbot/acme/framed-visitor"
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Help</title><h1>Help</h1><iframe src="`+frameURL+`" width="400" height="600" title="Chat"></iframe>`)
	}))
	t.Cleanup(host.Close)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	site := pagesNewTab(t, browser, true)
	site.run(chromedp.Navigate(host.URL))
	frame := pagesFrame(t, site, frameURL)
	frame.waitJS("connected", `document.getElementById("offline").hidden && document.getElementById("status").classList.contains("is-online")`, 10*time.Second)
	pagesSend(frame, "Hello from a help page")

	inbox.openRoom("framed-visitor")
	inbox.waitJS("the message", pagesCount("Hello from a help page")+" === 1", 5*time.Second)
	pagesSend(inbox, "Happy to help")
	frame.waitJS("the reply", pagesCount("Happy to help")+" === 1", 5*time.Second)
	frame.run(chromedp.Click(chromedp.ID("text")))
	inbox.waitJS("Seen under the reply", `document.querySelector("#messages .is-seen")?.textContent.includes("Happy to help")`, 5*time.Second)
}

// The business deletes a conversation while the visitor has the window
// open: what the visitor writes next is not stuck at "Sending…"; it starts
// a new conversation that reaches the inbox.
func TestBrowserVisitorAfterDelete(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/deleted-visitor"))
	visitor.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	pagesSend(visitor, "First question")
	visitor.waitJS("sent", pagesCount("First question")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	req, _ := http.NewRequest(http.MethodDelete, ts.URL+"/chatbot/api/rooms/deleted-visitor", nil)
	resp, err := admin.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}

	// The visitor is told at once, keeps the old messages to read, and
	// starts a new conversation when they choose to.
	visitor.waitJS("closed notice", `!document.getElementById("closed").hidden && document.getElementById("closed").textContent.includes("This conversation was closed") && document.getElementById("composer").hidden`, 5*time.Second)
	if n := pagesEval[int](visitor, pagesCount("First question")); n != 1 {
		t.Errorf("old messages wiped before the visitor chose a new conversation (%d left)", n)
	}
	visitor.screenshot("closed")
	visitor.run(chromedp.Click(chromedp.ID("new-conversation")))
	visitor.waitJS("a new conversation", `document.getElementById("closed").hidden && !document.getElementById("composer").hidden && document.activeElement === document.getElementById("text")`, 5*time.Second)
	visitor.waitJS("the deleted message gone", pagesCount("First question")+" === 0", 5*time.Second)
	pagesSend(visitor, "Second question")
	visitor.waitJS("delivered", pagesCount("Second question")+" === 1 && !document.querySelector('#messages .is-pending')", 10*time.Second)
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.openRoom("deleted-visitor")
	inbox.waitJS("the message", pagesCount("Second question")+" === 1", 5*time.Second)
}

// An upload shows a labelled progress bar in the list while it goes, which
// fills up and then gives way to the file message.
func TestBrowserUploadProgress(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	file := filepath.Join(t.TempDir(), "manual.pdf")
	if err := os.WriteFile(file, append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("0123456789abcdef"), 3<<16)...), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/upload-visitor"))
	tab.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	// Record the bar as it appears and every value it is given.
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => {
		window.bars = [];
		window.values = [];
		const d = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, "value");
		Object.defineProperty(HTMLProgressElement.prototype, "value", { get: d.get, set(v) { window.values.push(v); d.set.call(this, v); } });
		new MutationObserver(() => {
			for (const p of document.querySelectorAll("#messages progress")) if (!window.bars.includes(p.getAttribute("aria-label"))) window.bars.push(p.getAttribute("aria-label"));
		}).observe(document.getElementById("messages"), { childList: true, subtree: true });
	})()`))
	tab.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{file}))
	tab.waitJS("the file message", `document.querySelector('#messages .lcw-file[href^="/files/"]')?.textContent === "manual.pdf"`, 10*time.Second)
	if got := pagesEval[[]string](tab, `window.bars`); len(got) != 1 || got[0] != "Uploading manual.pdf" {
		t.Errorf("progress bars seen = %q, want one labelled \"Uploading manual.pdf\"", got)
	}
	if got := pagesEval[[]float64](tab, `window.values`); len(got) < 2 || got[0] != 0 || got[len(got)-1] != 1 {
		t.Errorf("progress values = %v, want from 0 up to 1", got)
	}
	if n := pagesEval[int](tab, `document.querySelectorAll("#messages progress, #messages .is-pending").length`); n != 0 {
		t.Errorf("%d progress bars or pending items left after the upload", n)
	}
}

// The attach control is reached with the keyboard, and then shows a focus
// ring (the real file input is invisible; its label is the button).
func TestBrowserAttachFocusVisible(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(ts.URL + "/chatbot/acme/keyboard-visitor"))
	tab.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	tab.run(chromedp.Focus(chromedp.ID("text")), chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	tab.waitJS("focus on the file input", `document.activeElement.id === "attach"`, 2*time.Second)
	if got := pagesEval[string](tab, `getComputedStyle(document.querySelector('label[for="attach"]')).outlineStyle`); got == "none" {
		t.Errorf("the attach button shows no focus ring when its input has the keyboard focus")
	}
}

// The visitor window has the chatbot's colours before any script runs (the
// server renders them), so it never flashes the default blue. chat.js is
// blocked here to look at the page as it is before the script.
func TestBrowserVisitorColoursWithoutScript(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	admin := ts.client().signup("acme")
	pagesStyle(t, admin, ts.URL, `{"headerBackgroundColor":"#b45309","senderBackground":"#065f46","background_color":"#fef3c7"}`)
	tab := pagesNewTab(t, browser, true)
	tab.run(
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{{URLPattern: ts.URL + "/static/*js/chat.js", Block: true}}})
			return err
		}),
		chromedp.Navigate(ts.URL+"/chatbot/acme/no-script"),
	)
	tab.waitJS("the page", `document.querySelector(".lcw-header")`, 5*time.Second)
	if got := pagesEval[string](tab, `getComputedStyle(document.querySelector(".lcw-header")).backgroundColor`); got != "rgb(180, 83, 9)" {
		t.Errorf("header background before the script = %s, want the chatbot's rgb(180, 83, 9)", got)
	}
	if got := pagesEval[string](tab, `getComputedStyle(document.getElementById("chat")).backgroundColor`); got != "rgb(254, 243, 199)" {
		t.Errorf("window background before the script = %s, want the chatbot's rgb(254, 243, 199)", got)
	}
}

// A socket that drops while older messages are loading does not leave
// "Loading earlier messages…" on screen for good: the request died with
// the socket.
func TestBrowserOlderLoadingAfterDrop(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	texts := make([]string, 80)
	for i := range texts {
		texts[i] = fmt.Sprintf("Line %d", i+1)
	}
	pagesVisitorSays(t, ts.URL, "acme", "drop-visitor", "", texts...)
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		// Older-page requests are swallowed, as if the socket died first.
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.sockets = []; const WS = WebSocket; window.WebSocket = class extends WS {
				constructor(...a) { super(...a); window.sockets.push(this); }
				send(d) { if (!String(d).includes('"before"')) super.send(d); }
			};`,
		})
		return err
	}), chromedp.Navigate(ts.URL+"/chatbot/acme/drop-visitor"))
	tab.waitJS("history", pagesCount("Line 80")+" === 1", 5*time.Second)
	tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 0`))
	tab.waitJS("loading older", `!document.getElementById("more").hidden`, 5*time.Second)
	tab.run(chromedp.Evaluate[chromedp.Void](`window.sockets.forEach(ws => ws.close())`))
	tab.waitJS("reconnected", `window.sockets.length === 2 && window.sockets[1].readyState === 1 && document.getElementById("offline").hidden`, 10*time.Second)
	tab.waitJS("no stale loading line", `document.getElementById("more").hidden`, 5*time.Second)
}
