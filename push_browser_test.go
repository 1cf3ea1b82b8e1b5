package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// TestBrowserServiceWorker: in Chromium the inbox registers /sw.js at the
// site's root scope; a push delivered to it (through DevTools, as a push
// service would) shows a notification with the payload's title, body and
// conversation link; and the inbox, told by the worker which conversation
// a click was for, opens it.
func TestBrowserServiceWorker(t *testing.T) {
	chrome := pagesBrowser(t)
	app := newTestServer(t, noMessageRate)
	app.client().signup("acme")
	pagesVisitorSays(t, app.URL, "acme", "vera", "", "Hello, anyone there?")
	pagesVisitorSays(t, app.URL, "acme", "otto", "", "A question about repairs")

	tab := pagesNewTab(t, chrome, true)
	regs := make(chan serviceworker.RegistrationID, 16)
	// The worker's own errors (a CSP violation in the worker among them)
	// fail the test like a page's console errors do.
	var workerErrs []string
	var workerErrsMu sync.Mutex
	if err := chromedp.Listen(tab.ctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerErrorReported); ok {
			workerErrsMu.Lock()
			workerErrs = append(workerErrs, fmt.Sprintf("%s:%d: %s", e.ErrorMessage.SourceURL, e.ErrorMessage.LineNumber, e.ErrorMessage.ErrorMessage))
			workerErrsMu.Unlock()
		}
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range e.Registrations {
				if r.ScopeURL == app.URL+"/" && !r.IsDeleted {
					select {
					case regs <- r.RegistrationID:
					default:
					}
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	pagesSignIn(tab, app.URL, "acme")
	tab.waitJS("two rooms", `document.querySelectorAll("#rooms .room").length === 2`, 5*time.Second)

	info, err := chromedp.Call(tab.ctx, target.GetTargetInfo, target.GetTargetInfoParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(tab.ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted,
		Origin: app.URL, BrowserContextID: info.TargetInfo.BrowserContextID,
	}); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}
	if _, err := chromedp.Call(tab.ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	scope := pagesEval[string](tab, `navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready).then((r) => r.active ? r.scope : "")`)
	if scope != app.URL+"/" {
		t.Fatalf("service worker scope %q, want %s/", scope, app.URL)
	}
	var reg serviceworker.RegistrationID
	select {
	case reg = <-regs:
	case <-time.After(10 * time.Second):
		t.Fatal("DevTools reported no registration")
	}

	payload, _ := json.Marshal(PushMessage{Title: "New message from Vera", Body: "Hello, anyone there?", URL: "/messages#c=vera", Tag: "room-vera"})
	if _, err := chromedp.Call(tab.ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: app.URL, RegistrationID: reg, Data: string(payload),
	}); err != nil {
		t.Fatalf("deliver push: %v", err)
	}
	const shown = `navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => JSON.stringify(ns.map((n) => [n.title, n.body, n.tag, n.data && n.data.url])))`
	var got string
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = pagesEval[string](tab, shown)
		if got != "[]" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := `[["New message from Vera","Hello, anyone there?","room-vera","/messages#c=vera"]]`; got != want {
		t.Errorf("notifications shown: %s, want %s", got, want)
	}

	// What the worker's notificationclick sends an open inbox.
	pagesEval[bool](tab, `navigator.serviceWorker.dispatchEvent(new MessageEvent("message", {data: {type: "open", url: location.origin + "/messages#c=vera"}}))`)
	tab.waitJS("vera's conversation open", `location.hash === "#c=vera" && !document.getElementById("convo").hidden`, 5*time.Second)
	tab.waitJS("vera's message shown", `document.getElementById("convo").textContent.includes("Hello, anyone there?")`, 5*time.Second)

	workerErrsMu.Lock()
	defer workerErrsMu.Unlock()
	if len(workerErrs) > 0 {
		t.Errorf("the service worker reported errors:\n%s", strings.Join(workerErrs, "\n"))
	}
}
