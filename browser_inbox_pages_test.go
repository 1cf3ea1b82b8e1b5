package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// inboxKeepSockets keeps every socket the page opens in window.sockets and
// every frame it sends in window.sent (fetch_rooms is not passed on once
// window.answerFetchRooms is set), so a test can hand the inbox frames
// a server would send and see what it asks for.
var inboxKeepSockets = chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.sockets = []; window.sent = [];
const WS = WebSocket;
window.WebSocket = class extends WS {
  constructor(...a) { super(...a); window.sockets.push(this); }
  send(d) {
    window.sent.push(String(d));
    // The test answers fetch_rooms itself (as a paging server would).
    if (window.answerFetchRooms && String(d).includes('"fetch_rooms"')) return;
    return super.send(d);
  }
};
// Hands the admin room socket frames, as if the server sent them.
window.roomFrames = (frames) => {
  const ws = window.sockets.find((s) => s.url.includes('/ws/room/') && s.readyState === 1);
  for (const f of frames) ws.dispatchEvent(new MessageEvent('message', { data: typeof f === 'string' ? f : JSON.stringify(f) }));
};
// n rooms with one unread message each, newest first, from the year y back.
window.fakeRooms = (prefix, n, y) => Array.from({ length: n }, (_, i) => {
  const t = new Date(Date.UTC(y, 0, 1) - i * 60000).toISOString();
  const c = prefix + String(i).padStart(5, '0');
  return { consumer: c, consumer_email: '', unread: 1, online: false, created: t, last_activity: t,
    messages: [{ id: 1e9 + i, author: c, content: 'Hi from ' + c, type: 'text', file: '', room: 'acme ' + c, created: t }] };
});`,
	})
	return err
})

// The inbox shows a long list a page of rows at a time and, when the
// server pages fetch_rooms (has_more), asks for older rooms with before on
// scrolling to the end, without dropping rooms the first page does not
// reach. The server of this branch sends every room at once, so the pages
// here are handed to the page as frames.
func TestBrowserInboxRoomPages(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	pagesVisitorSays(t, ts.URL, "acme", "real-visitor", "", "Hello")
	inbox := pagesNewTab(t, browser, true)
	inbox.run(inboxKeepSockets)
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.waitJS("the real room", `document.querySelector('#rooms .room[data-consumer="real-visitor"]') && document.title.startsWith("(1) ")`, 5*time.Second)
	if got := pagesEval[string](inbox, `window.sent.find(s => s.includes("fetch_rooms")) || ""`); !strings.Contains(got, `"limit":100`) {
		t.Errorf("first fetch_rooms = %s, want a limit of 100", got)
	}

	// A first page of 120 newer rooms, and more to come: the older real
	// room stays (the page does not reach back to it).
	pagesEval[bool](inbox, `(window.roomFrames([{ command: "rooms", rooms: fakeRooms("new-", 120, 2090), has_more: true }]), true)`)
	inbox.waitJS("the first 50 rows", `document.querySelectorAll("#rooms .room").length === 50 && document.querySelector("#rooms .room").dataset.consumer === "new-00000"`, 5*time.Second)
	inbox.waitJS("all counted", `document.title.startsWith("(121) ")`, 5*time.Second)
	if got := pagesEval[string](inbox, `document.getElementById("rooms-more").textContent`); !strings.Contains(got, "50 of 121+") {
		t.Errorf("rooms-more = %q, want 50 of 121+", got)
	}

	// Scrolling to the end shows 50 more rows at a time, then asks the
	// server for the rooms before the oldest it sent.
	scroll := `(() => { const l = document.getElementById("rooms"); l.scrollTop = l.scrollHeight; return true })()`
	for _, want := range []int{100, 121} {
		pagesEval[bool](inbox, scroll)
		inbox.waitJS(fmt.Sprintf("%d rows", want), fmt.Sprintf(`document.querySelectorAll("#rooms .room").length === %d`, want), 5*time.Second)
	}
	if last := pagesEval[string](inbox, `[...document.querySelectorAll("#rooms .room")].at(-1).dataset.consumer`); last != "real-visitor" {
		t.Errorf("last row = %s, want the oldest room, real-visitor", last)
	}
	pagesEval[bool](inbox, `window.answerFetchRooms = true`)
	pagesEval[bool](inbox, scroll)
	inbox.waitJS("fetch_rooms before", `window.sent.filter(s => s.includes("fetch_rooms")).length >= 2`, 5*time.Second)
	asked := pagesEval[string](inbox, `window.sent.filter(s => s.includes("fetch_rooms")).at(-1)`)
	oldest := pagesEval[string](inbox, `fakeRooms("new-", 120, 2090)[119].last_activity`)
	if !strings.Contains(asked, `"before":"`+oldest+`"`) || !strings.Contains(asked, `"limit":100`) {
		t.Errorf("older page asked with %s, want before %s and limit 100", asked, oldest)
	}
	// One request at a time.
	pagesEval[bool](inbox, scroll)
	if n := pagesEval[int](inbox, `window.sent.filter(s => s.includes("fetch_rooms")).length`); n != 2 {
		t.Errorf("%d fetch_rooms sent, want 2 (one page in flight at a time)", n)
	}

	// The older page (the last) joins the list; nothing is dropped.
	pagesEval[bool](inbox, `(window.roomFrames([{ command: "rooms", rooms: fakeRooms("old-", 30, 2080), has_more: false }]), true)`)
	inbox.waitJS("the older page counted", `document.title.startsWith("(151) ")`, 5*time.Second)
	pagesEval[bool](inbox, scroll)
	inbox.waitJS("every row", `document.querySelectorAll("#rooms .room").length === 151`, 5*time.Second)
	inbox.waitJS("no more to load", `document.getElementById("rooms-more").hidden`, 5*time.Second)

	// The filter searches what is loaded, a page of rows at a time too.
	inbox.run(pagesFill("filter", "old-0001"))
	inbox.waitJS("filtered", `document.querySelectorAll("#rooms .room").length === 10`, 5*time.Second)
	inbox.run(pagesFill("filter", "nobody-at-all"))
	inbox.waitJS("no match", `document.querySelectorAll("#rooms .room").length === 0 && document.getElementById("rooms-more").textContent.includes("No conversation")`, 5*time.Second)
	inbox.run(pagesFill("filter", ""))
	inbox.waitJS("unfiltered", `document.querySelectorAll("#rooms .room").length === 50`, 5*time.Second)

	// Keyboard: a focused row keeps the focus when news moves it to the top.
	inbox.run(chromedp.Evaluate[chromedp.Void](`document.querySelector('#rooms .room[data-consumer="new-00007"]').focus()`))
	pagesEval[bool](inbox, `(window.roomFrames([{ command: "new_message", message: { id: 3e9, author: "new-00007", content: "News", type: "text", file: "", room: "acme new-00007", created: "2091-01-01T00:00:00.000Z" } }]), true)`)
	inbox.waitJS("the row moved to the top", `document.querySelector("#rooms .room").dataset.consumer === "new-00007"`, 5*time.Second)
	if f := pagesEval[string](inbox, `document.activeElement.dataset.consumer || document.activeElement.tagName`); f != "new-00007" {
		t.Errorf("focus on %s after the row moved, want new-00007", f)
	}

	// A reconnect's first page without has_more is the whole list: rooms
	// not in it were deleted meanwhile and drop out.
	pagesEval[bool](inbox, `(window.roomFrames([{ command: "rooms", rooms: fakeRooms("new-", 3, 2090) }]), true)`)
	inbox.waitJS("only those rooms", `document.querySelectorAll("#rooms .room").length === 3 && document.getElementById("rooms-more").hidden`, 5*time.Second)
}

// What a burst of frames costs the inbox with 100 and with 10,000 rooms
// loaded: the same, since only the first rows are in the page. Measured in
// the page and logged; asserted: only a page of rows is rendered, and the
// burst's rooms end up first.
func TestBrowserInboxTenThousandRooms(t *testing.T) {
	browser := pagesBrowser(t)
	ts := newTestServer(t, noMessageRate)
	ts.client().signup("acme")
	for _, n := range []int{100, 10000} {
		inbox := pagesNewTab(t, browser, true)
		inbox.run(inboxKeepSockets)
		pagesSignIn(inbox, ts.URL, "acme")
		inbox.waitJS("the room socket", `document.getElementById("offline").hidden && window.sockets.some(s => s.url.includes("/ws/room/") && s.readyState === 1)`, 5*time.Second)
		load := pagesEval[float64](inbox, fmt.Sprintf(`(async () => {
		  const t = performance.now();
		  window.roomFrames([{ command: "rooms", rooms: fakeRooms("r-", %d, 2090) }]);
		  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
		  return performance.now() - t;
		})()`, n))
		inbox.waitJS("counted", fmt.Sprintf(`document.title.startsWith("(%d) ")`, n), 5*time.Second)
		if rows := pagesEval[int](inbox, `document.querySelectorAll("#rooms .room").length`); rows != 50 {
			t.Errorf("%d rooms: %d rows rendered, want 50", n, rows)
		}
		// 1,000 new messages, each in one of the oldest rooms (the worst
		// case: every one moves from the end of the order to its top), in
		// one burst, then the frames that render them.
		burst := pagesEval[[]float64](inbox, fmt.Sprintf(`(async () => {
		  const n = %d, frames = [];
		  for (let i = 0; i < 1000; i++) {
		    const c = "r-" + String(n - 1 - (i %% n)).padStart(5, "0");
		    frames.push({ command: "new_message", message: { id: 2e9 + i, author: c, content: "Burst " + i, type: "text", file: "", room: "acme " + c, created: new Date(Date.UTC(2095, 0, 1) + i).toISOString() } });
		  }
		  const t = performance.now();
		  window.roomFrames(frames);
		  const frames_ = performance.now() - t;
		  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
		  return [frames_, performance.now() - t];
		})()`, n))
		inbox.waitJS("the burst first", fmt.Sprintf(`document.querySelector("#rooms .room").dataset.consumer === "r-%05d"`, n-1-(999%n)), 5*time.Second)
		t.Logf("%5d rooms: loading the list %.0f ms; 1,000 new_message frames handled in %.1f ms, rendered %.1f ms after the first", n, load, burst[0], burst[1])
	}
}
