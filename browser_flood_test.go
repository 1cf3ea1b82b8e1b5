package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// floodProbe runs in the inbox before its own scripts: it records long
// tasks (PerformanceObserver 'longtask'), gaps between animation frames,
// the time the page's own code spends on socket frames and in animation
// frame callbacks (so a slow machine's scheduling can be told from the
// page's work), and, for each click on a room, the event's timestamp and
// when the conversation header showed that room (in the DOM, then at the
// next frame, which is about when it is painted).
const floodProbe = `(() => {
  const p = window.__flood = { long: [], gaps: [], clicks: [] };
  p.reset = () => Object.assign(p, { msgN: 0, msgMs: 0, msgMax: 0, rafN: 0, rafMs: 0, rafMax: 0 });
  p.reset();
  const raf = window.requestAnimationFrame.bind(window);
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, fn, opts) {
    if (type === 'message' && typeof fn === 'function') {
      const f = fn;
      fn = function (ev) {
        const s = performance.now();
        try { return f.call(this, ev); } finally {
          const d = performance.now() - s;
          p.msgN++; p.msgMs += d; p.msgMax = Math.max(p.msgMax, d);
        }
      };
    }
    return add.call(this, type, fn, opts);
  };
  window.requestAnimationFrame = (cb) => raf((t) => {
    const s = performance.now();
    try { cb(t); } finally {
      const d = performance.now() - s;
      p.rafN++; p.rafMs += d; p.rafMax = Math.max(p.rafMax, d);
    }
  });
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) p.long.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { p.noLongtask = String(e); }
  let last = 0;
  const tick = (t) => { if (last && t - last > 50) p.gaps.push([last, t - last]); last = t; raf(tick); };
  raf(tick);
  document.addEventListener('click', (ev) => {
    const b = ev.target && ev.target.closest && ev.target.closest('#rooms .room');
    if (!b) return;
    const rec = { consumer: b.dataset.consumer, at: ev.timeStamp, handled: performance.now(), origin: performance.timeOrigin };
    p.clicks.push(rec);
    const name = document.getElementById('convo-name');
    const want = 'Visitor ' + rec.consumer;
    const seen = () => {
      if (rec.shown || name.textContent !== want) return false;
      rec.shown = performance.now();
      raf(() => { rec.painted = performance.now(); });
      return true;
    };
    const mo = new MutationObserver(() => { if (seen()) mo.disconnect(); });
    mo.observe(name, { childList: true, characterData: true, subtree: true });
  }, true);
})()`

// floodStats sums what the probe saw since t0 (a performance.now()).
const floodStats = `((t0) => {
  const p = window.__flood;
  const long = p.long.filter(([s]) => s >= t0);
  const gaps = p.gaps.filter(([s]) => s >= t0);
  return {
    longCount: long.length,
    longTotal: Math.round(long.reduce((a, [, d]) => a + d, 0)),
    longMax: Math.round(long.reduce((a, [, d]) => Math.max(a, d), 0)),
    gapMax: Math.round(gaps.reduce((a, [, g]) => Math.max(a, g), 0)),
    msgN: p.msgN, msgMs: Math.round(p.msgMs), msgMax: Math.round(p.msgMax),
    rafN: p.rafN, rafMs: Math.round(p.rafMs), rafMax: Math.round(p.rafMax),
    noLongtask: p.noLongtask || '',
  };
})`

type floodStatsResult struct {
	LongCount  int     `json:"longCount"`
	LongTotal  float64 `json:"longTotal"`
	LongMax    float64 `json:"longMax"`
	GapMax     float64 `json:"gapMax"`
	NoLongtask string  `json:"noLongtask"`
	MsgN       int     `json:"msgN"`
	MsgMs      float64 `json:"msgMs"`
	MsgMax     float64 `json:"msgMax"`
	RafN       int     `json:"rafN"`
	RafMs      float64 `json:"rafMs"`
	RafMax     float64 `json:"rafMax"`
}

type floodClick struct {
	Consumer string  `json:"consumer"`
	At       float64 `json:"at"`
	Handled  float64 `json:"handled"`
	Shown    float64 `json:"shown"`
	Painted  float64 `json:"painted"`
	Origin   float64 `json:"origin"` // performance.timeOrigin, in Unix ms
	// Sent is when the test sent the click (Go's clock, Unix ms): the
	// event's own timeStamp is taken when the page dequeues it, so it
	// does not show how long a busy page kept the click waiting.
	Sent float64 `json:"-"`
}

// floodPatience is how long the flood test waits for the page to answer
// at all: the inbox before the fix stayed blocked for minutes, and the
// test measures that rather than giving up at the usual 15 s.
const floodPatience = 3 * time.Minute

// floodEval is pagesEval with floodPatience.
func floodEval[T any](tab *pagesTab, expr string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, floodPatience)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("browser: evaluate %q: %v", expr, err)
	}
	return v
}

// floodRooms is how many visitors the flood test sends: 2,000 unless
// LIVECHAT_FLOOD_ROOMS says otherwise (docs/PERFORMANCE.md compares the
// old inbox at a size it survives).
func floodRooms(t *testing.T) int {
	n := 2000
	if s := os.Getenv("LIVECHAT_FLOOD_ROOMS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10 {
			t.Fatalf("LIVECHAT_FLOOD_ROOMS=%q: want a number ≥ 10", s)
		}
		n = v
	}
	return n
}

// A flood of new visitors (issue 12, finding 1): 2,000 rooms made in about
// 2 s by plain websocket clients, each saying one thing, while the inbox is
// open. The inbox must list and count them all, and stay responsive: a
// click on a room during the flood and one after it open that very
// conversation. How long they took, the long tasks and the longest gap
// between frames are measured in the page (Performance API) and logged,
// not asserted (the machine's speed is not the page's fault); the figures
// are in docs/PERFORMANCE.md, "Inbox under a flood".
func TestBrowserInboxFlood(t *testing.T) {
	browser := pagesBrowser(t)
	n := floodRooms(t)
	// Each room is 4 frames on the inbox's socket, 8,000 for 2,000 rooms:
	// close to the default queue of 8,192, which a page slowed by a busy
	// machine could overflow (the socket is then closed and the inbox
	// refetches). This test is about the page, so the queue is roomy.
	ts := newTestServer(t, noMessageRate, func(c *Config) { c.AdminSendQueue = max(c.AdminSendQueue, 8*n) })
	ts.client().signup("acme")

	inbox := pagesNewTab(t, browser, true)
	inbox.run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: floodProbe})
		return err
	}))
	pagesSignIn(inbox, ts.URL, "acme")
	inbox.waitJS("the room socket", `document.getElementById("offline").hidden && !document.getElementById("rooms-empty").hidden && window.__flood`, 5*time.Second)
	t0 := pagesEval[float64](inbox, `(window.__flood.reset(), performance.now())`)

	// The flood: one goroutine per visitor, started at a steady pace, at
	// most 100 sockets open at once (each dials, says hello, waits for its
	// echo and leaves), so a per-address socket cap of 200 would not bite.
	wsBase := "ws" + strings.TrimPrefix(ts.URL, "http")
	consumer := func(i int) string { return fmt.Sprintf("flood-%05d", i) }
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 100)
	start := time.Now()
	pace := 2 * time.Second / time.Duration(n)
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		for i := 0; i < n; i++ {
			if d := time.Until(start.Add(time.Duration(i) * pace)); d > 0 {
				time.Sleep(d)
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				if err := floodVisitor(wsBase, consumer(i)); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}(i)
		}
	}()

	// A click during the flood, on a real mouse event, on whichever room
	// is third in the list at that moment.
	time.Sleep(time.Second)
	var hits, labels []string
	var sents []float64
	during, duringSent := floodClickRow(t, inbox)
	if during == "" {
		t.Error("the click during the flood opened no room: the press and the release landed on different rows")
	} else {
		hits, labels, sents = append(hits, during), append(labels, "during"), append(sents, duringSent)
	}
	<-launched
	launchedIn := time.Since(start)
	wg.Wait()
	flooded := time.Since(start)
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d visitors failed; the first: %v", f, n, firstErr.Load())
	}

	// Every room counted (the unread total in the title: one message each,
	// less the one opened) and, scrolling to the end, listed once.
	want := n - len(hits)
	inbox.waitJS("every room counted", fmt.Sprintf(`document.title.startsWith("(%d) ")`, want), floodPatience)
	listed := time.Since(start)
	stats := floodEval[floodStatsResult](inbox, floodStats+"("+strconv.FormatFloat(t0, 'f', 3, 64)+")")

	// A click after the flood, on a room that is not the open one.
	after, afterSent := floodClickRow(t, inbox)
	switch after {
	case "":
		t.Fatal("the click after the flood opened no room")
	case during:
		t.Fatalf("both clicks hit %s", after)
	}
	hits, labels, sents = append(hits, after), append(labels, "after"), append(sents, afterSent)
	want--
	clicks := floodWaitClicks(t, inbox, len(hits))
	for i, c := range clicks {
		c.Sent = sents[i]
		which := labels[i]
		if c.Consumer != hits[i] {
			t.Errorf("click %s the flood: the page answered %s, the click hit %s", which, c.Consumer, hits[i])
		}
		t.Logf("click %s the flood on %s: the next frame showed it %.0f ms after the click was sent (handler started %.0f ms after the event's timeStamp, header %.0f ms)",
			which, c.Consumer, c.Origin+c.Painted-c.Sent, c.Handled-c.At, c.Shown-c.At)
	}
	inbox.waitJS("the clicked conversation open", fmt.Sprintf(`location.hash === "#c=%s" && document.getElementById("convo-name").textContent === "Visitor %s" && %s === 1`,
		after, after, pagesCount("Hello from "+after)), 10*time.Second)
	inbox.waitJS("unread count after opening", fmt.Sprintf(`document.title.startsWith("(%d) ")`, want), 5*time.Second)

	t.Logf("flood: %d visitors started in %v, all answered in %v; all counted in the inbox %v after the start",
		n, launchedIn.Round(time.Millisecond), flooded.Round(time.Millisecond), listed.Round(time.Millisecond))
	if stats.NoLongtask != "" {
		t.Logf("no longtask observer in this browser: %s", stats.NoLongtask)
	}
	t.Logf("in the page during the flood: %d long tasks, %.0f ms in all, the longest %.0f ms; longest gap between frames %.0f ms",
		stats.LongCount, stats.LongTotal, stats.LongMax, stats.GapMax)
	t.Logf("the inbox's own code: %d socket frames, %.0f ms in all, the longest %.0f ms; %d animation frames, %.0f ms in all, the longest %.0f ms",
		stats.MsgN, stats.MsgMs, stats.MsgMax, stats.RafN, stats.RafMs, stats.RafMax)

	// Scrolling to the end shows every room, each once.
	rendered := 0
	for tries := 0; tries < n/50+20; tries++ {
		rendered = floodEval[int](inbox, `(() => { const l = document.getElementById("rooms"); l.scrollTop = l.scrollHeight; return l.querySelectorAll(".room").length })()`)
		if rendered >= n {
			break
		}
		time.Sleep(30 * time.Millisecond)
	}
	got := floodEval[[]string](inbox, `[...document.querySelectorAll("#rooms .room")].map(b => b.dataset.consumer)`)
	seen := make(map[string]int, len(got))
	for _, c := range got {
		seen[c]++
	}
	for i := 0; i < n; i++ {
		if seen[consumer(i)] != 1 {
			t.Errorf("room %s listed %d times after scrolling to the end", consumer(i), seen[consumer(i)])
			break
		}
	}
	if len(got) != n {
		t.Errorf("%d rooms listed after scrolling to the end, want %d", len(got), n)
	}
}

// floodVisitor is one visitor of the flood: it opens its chat socket
// (which creates the room), says hello, waits for the echo, and leaves.
func floodVisitor(wsBase, consumer string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsBase+"/ws/chat/acme/"+consumer, nil)
	if err != nil {
		return fmt.Errorf("%s: dial: %w", consumer, err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	if err := wsjson.Write(ctx, c, map[string]any{"command": "new_message", "message": map[string]any{"content": "Hello from " + consumer, "client_id": consumer}}); err != nil {
		return fmt.Errorf("%s: write: %w", consumer, err)
	}
	for {
		var f map[string]any
		if err := wsjson.Read(ctx, c, &f); err != nil {
			return fmt.Errorf("%s: read: %w", consumer, err)
		}
		switch f["command"] {
		case "new_message":
			return nil
		case "error":
			return fmt.Errorf("%s: %v: %v", consumer, f["error"], f["detail"])
		}
	}
}

// floodClickRow clicks, with a real mouse event, the first of the top rows
// of the list that is not the open conversation, and returns the room the
// click hit (as the probe recorded it: rows move during a flood), or ""
// when the click reached no room, and when the click was sent (Unix ms).
func floodClickRow(t *testing.T, tab *pagesTab) (string, float64) {
	t.Helper()
	type spot struct {
		Consumer string  `json:"consumer"`
		X        float64 `json:"x"`
		Y        float64 `json:"y"`
	}
	s := floodEval[spot](tab, `(() => {
	  const b = [...document.querySelectorAll("#rooms .room")].slice(2, 8).find(b => !b.hasAttribute("aria-current"));
	  if (!b) return { consumer: "", x: 0, y: 0 };
	  const r = b.getBoundingClientRect();
	  return { consumer: b.dataset.consumer, x: r.left + r.width / 2, y: r.top + r.height / 2 };
	})()`)
	if s.Consumer == "" {
		t.Fatalf("no room to click in the list: %v rows, title %q, offline hidden %v", floodEval[int](tab, `document.querySelectorAll("#rooms .room").length`), floodEval[string](tab, `document.title`), floodEval[bool](tab, `document.getElementById("offline").hidden`))
	}
	clicks := floodEval[int](tab, `window.__flood.clicks.length`)
	ctx, cancel := context.WithTimeout(tab.ctx, floodPatience)
	defer cancel()
	sent := float64(time.Now().UnixMicro()) / 1000
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(s.X, s.Y)); err != nil {
		t.Fatalf("clicking %s: %v", s.Consumer, err)
	}
	// The press and the release are handled when MouseClickXY returns; a
	// page that rebuilds its rows between them gets the click on the list
	// itself, not on a room. Give it a moment all the same.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if floodEval[int](tab, `window.__flood.clicks.length`) > clicks {
			return floodEval[string](tab, `window.__flood.clicks.at(-1).consumer`), sent
		}
		if time.Now().After(deadline) {
			t.Logf("the click at (%.0f, %.0f), aimed at %s, reached no room", s.X, s.Y, s.Consumer)
			return "", sent
		}
	}
}

// floodWaitClicks waits until the probe saw n clicks shown and painted.
func floodWaitClicks(t *testing.T, tab *pagesTab, n int) []floodClick {
	t.Helper()
	tab.waitJS("the clicks answered", fmt.Sprintf(`window.__flood.clicks.length === %d && window.__flood.clicks.every(c => c.painted)`, n), floodPatience)
	return floodEval[[]floodClick](tab, `window.__flood.clicks`)
}
