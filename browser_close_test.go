package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Every socket is closed exactly once: Chromium reports a second close
// frame as "WebSocket connection to … failed: Close received after close"
// (and then sees 1006 instead of the code the server sent).

// closeWatch collects a tab's console messages about a doubled close.
type closeWatch struct {
	mu   sync.Mutex
	seen []string
}

const doubleClose = "Close received after close"

func watchCloses(t *testing.T, tab *pagesTab) *closeWatch {
	t.Helper()
	w := &closeWatch{}
	err := chromedp.Listen(tab.ctx, func(ev any) {
		var text string
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				text = ev.Entry.Text
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				for _, a := range ev.Args {
					text += string(a.Value) + a.Description
				}
			}
		}
		if strings.Contains(text, doubleClose) {
			w.mu.Lock()
			w.seen = append(w.seen, text)
			w.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *closeWatch) check(t *testing.T, name string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen {
		t.Errorf("%s: browser: %s", name, s)
	}
}

// openInboxAndVisitor signs the admin in to the inbox with a room open,
// and opens the visitor's window; both sockets are live when it returns.
func openInboxAndVisitor(t *testing.T, ts *testServer, consumer string) (inbox, visitor *pagesTab) {
	t.Helper()
	browser := pagesBrowser(t)
	inbox = pagesNewTab(t, browser, true)
	visitor = pagesNewTab(t, browser, true)
	pagesSignIn(inbox, ts.URL, "acme")
	visitor.run(chromedp.Navigate(ts.URL + "/chatbot/acme/" + consumer))
	visitor.waitJS("the visitor's socket", `document.getElementById("offline").hidden && document.getElementById("status").classList.contains("is-online")`, 5*time.Second)
	pagesSend(visitor, "Hello from "+consumer)
	inbox.openRoom(consumer)
	inbox.waitJS("the message in the inbox", pagesCount("Hello from "+consumer)+" === 1", 5*time.Second)
	return inbox, visitor
}

// TestBrowserGracefulStopClosesOnce: a graceful stop closes every socket
// with one close frame (1001).
func TestBrowserGracefulStopClosesOnce(t *testing.T) {
	pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	inbox, visitor := openInboxAndVisitor(t, ts, "stop-visitor")
	watches := map[string]*closeWatch{"inbox": watchCloses(t, inbox), "visitor": watchCloses(t, visitor)}

	ts.Close()
	inbox.waitJS("offline banner in the inbox", `!document.getElementById("offline").hidden`, 5*time.Second)
	visitor.waitJS("offline banner at the visitor", `!document.getElementById("offline").hidden`, 5*time.Second)
	time.Sleep(500 * time.Millisecond) // the browser logs after the close event
	for name, w := range watches {
		w.check(t, name)
	}
}

// TestBrowserPasswordChangeClosesOnce: changing the password in another
// session ends the inbox's session, whose sockets are closed (1008) with
// one close frame; the visitor's socket is not touched.
func TestBrowserPasswordChangeClosesOnce(t *testing.T) {
	pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	other := ts.client().signup("acme")
	inbox, visitor := openInboxAndVisitor(t, ts, "password-visitor")
	watches := map[string]*closeWatch{"inbox": watchCloses(t, inbox), "visitor": watchCloses(t, visitor)}

	sockets := ts.Server.hub.Count()
	other.must(200, "POST", "/accounts/api/changepassword", map[string]string{"old_password": testPassword, "new_password": "battery staple"})
	// The inbox's admin sockets (room and chat) go; the visitor's stays.
	waitFor(t, "the inbox's sockets to close", func() bool { return ts.Server.hub.Count() <= sockets-2 })
	time.Sleep(500 * time.Millisecond) // the browser logs after the close event
	visitor.waitJS("the visitor still online", `document.getElementById("offline").hidden`, time.Second)
	for name, w := range watches {
		w.check(t, name)
	}
}
