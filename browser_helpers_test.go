package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "also write docs/screenshots/*.png from the browser tests")

// pagesBrowserNames are where the browser tests look for Chromium.
var pagesBrowserNames = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

var (
	pagesBrowserOnce sync.Once
	pagesBrowserCtx  context.Context
	pagesBrowserStop func() // stops the browser and removes its profile
	pagesBrowserErr  error
	pagesShotsDir    string
)

// TestMain stops the shared browser after all tests, which also removes
// its temporary profile directory.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if pagesBrowserStop != nil {
		pagesBrowserStop()
	}
	os.Exit(code)
}

// pagesBrowser returns the context of one headless Chromium shared by all
// browser tests. It skips the test under -short or without a browser,
// unless LIVECHAT_REQUIRE_BROWSER=1, which turns a missing browser into a
// failure (CI sets it).
func pagesBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped under -short")
	}
	require := os.Getenv("LIVECHAT_REQUIRE_BROWSER") == "1"
	pagesBrowserOnce.Do(func() {
		var path string
		for _, name := range pagesBrowserNames {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			pagesBrowserErr = fmt.Errorf("no Chromium found (tried %s)", strings.Join(pagesBrowserNames, ", "))
			return
		}
		// The browser lives until TestMain stops it (or, should the test
		// binary die, until chromedp's Pdeathsig kills it).
		alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
			chromedp.WindowSize(1280, 800),
		)
		ctx, stopBrowser := chromedp.NewContext(alloc)
		pagesBrowserStop = func() {
			stopBrowser()
			stopAlloc()
		}
		if err := chromedp.Do(ctx); err != nil {
			pagesBrowserErr = fmt.Errorf("starting %s: %w", path, err)
			return
		}
		pagesBrowserCtx = ctx
		pagesShotsDir, pagesBrowserErr = os.MkdirTemp("", "livechat-screenshots-")
	})
	if pagesBrowserErr != nil {
		if require {
			t.Fatalf("LIVECHAT_REQUIRE_BROWSER=1: %v", pagesBrowserErr)
		}
		t.Skipf("browser test skipped: %v", pagesBrowserErr)
	}
	return pagesBrowserCtx
}

// pagesTab is one browser tab in a fresh browser context (own cookies and
// storage). The test fails on any JavaScript exception or CSP violation
// in it.
type pagesTab struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	bad []string
}

func pagesNewTab(t *testing.T, parent context.Context, fresh bool) *pagesTab {
	t.Helper()
	var opts []chromedp.ContextOption
	if fresh {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	tab := &pagesTab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, tab.onEvent); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.check)
	return tab
}

// onEvent collects exceptions and CSP violations; it runs in chromedp's
// reading loop, so it only appends under a lock.
func (tab *pagesTab) onEvent(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		problem = "exception: " + d.Text
		if d.Exception != nil {
			problem += " " + d.Exception.Description
		}
		problem += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber)
	case *cdplog.EventEntryAdded:
		if strings.Contains(ev.Entry.Text, "Content Security Policy") || strings.Contains(ev.Entry.Text, "Content-Security-Policy") {
			problem = "CSP: " + ev.Entry.Text
		}
	case *runtime.EventConsoleAPICalled:
		for _, a := range ev.Args {
			s := string(a.Value) + a.Description
			if strings.Contains(s, "Content Security Policy") {
				problem = "CSP (console): " + s
			}
		}
	}
	if problem != "" {
		tab.mu.Lock()
		tab.bad = append(tab.bad, problem)
		tab.mu.Unlock()
	}
}

func (tab *pagesTab) check() {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, p := range tab.bad {
		tab.t.Errorf("browser: %s", p)
	}
	tab.bad = nil
}

// run runs actions in the tab under a deadline.
func (tab *pagesTab) run(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression into T.
func pagesEval[T any](tab *pagesTab, expr string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.t.Fatalf("browser: evaluate %q: %v", expr, err)
	}
	return v
}

// waitJS polls until a JavaScript expression is true.
func (tab *pagesTab) waitJS(what, expr string, within time.Duration) {
	tab.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(tab.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tab.screenshot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			tab.t.Fatalf("browser: timed out after %v waiting for %s (%s); last error %v", within, what, expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the viewport as name.png in the run's screenshot dir.
func (tab *pagesTab) screenshot(name string) []byte {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tab.t.Logf("screenshot %s: %v", name, err)
		return nil
	}
	p := filepath.Join(pagesShotsDir, tab.t.Name()+"-"+name+".png")
	p = strings.ReplaceAll(p, "/"+tab.t.Name(), "/"+strings.ReplaceAll(tab.t.Name(), "/", "_"))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tab.t.Logf("screenshot %s: %v", name, err)
	} else {
		tab.t.Logf("screenshot: %s", p)
	}
	return png
}

// docScreenshot saves a screenshot for the README when -update-screenshots.
func (tab *pagesTab) docScreenshot(name string) {
	tab.t.Helper()
	png := tab.screenshot(name)
	if *updateScreenshots && png != nil {
		if err := os.WriteFile(filepath.Join("docs", "screenshots", name+".png"), png, 0o644); err != nil {
			tab.t.Errorf("writing docs screenshot: %v", err)
		}
	}
}

// openRoom waits for a conversation in the inbox's list and opens it. The
// lookup and the click run in one script: the list is re-rendered by live
// frames, so a node found in one CDP call can be gone by the next.
func (tab *pagesTab) openRoom(consumer string) {
	tab.t.Helper()
	sel := `#rooms .room[data-consumer="` + consumer + `"]`
	tab.waitJS("the room "+consumer, "(() => { const el = document.querySelector('"+sel+"'); if (el) el.click(); return !!el })()", 5*time.Second)
}

// pagesSettingsTab opens a fresh tab, signs username in and goes to the
// settings page.
func pagesSettingsTab(t *testing.T, browser context.Context, base, username string) *pagesTab {
	t.Helper()
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, base, username)
	tab.run(chromedp.Navigate(base + "/settings"))
	return tab
}

// pagesSignIn signs an admin in through the sign-in form.
func pagesSignIn(tab *pagesTab, base, username string) {
	tab.t.Helper()
	tab.run(
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("the inbox", `location.pathname === "/messages" && document.getElementById("inbox-app")`, 10*time.Second)
}

// pagesClearComposer empties the composer (a key event sent over CDP can
// leave a newline behind that a real Enter does not) and blurs it, for
// screenshots.
func pagesClearComposer(tab *pagesTab) {
	tab.t.Helper()
	tab.run(chromedp.Evaluate[chromedp.Void](`(t => { t.value = ""; t.style.removeProperty("height"); document.activeElement.blur() })(document.getElementById("text"))`))
}

// pagesFill replaces the value of the input with that id by typing.
func pagesFill(id, value string) chromedp.Action[chromedp.Void] {
	clear := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(el => { el.value = ""; el.dispatchEvent(new Event("input", {bubbles: true})) })(document.getElementById(%q))`, id))
	if value == "" {
		return clear
	}
	return chromedp.Steps(clear, chromedp.SendKeys(chromedp.ID(id), value))
}

// pagesPNG is a picture for uploads: a sunset-like gradient with a hill.
func pagesPNG() []byte {
	const w, h = 360, 220
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(250 - y/3), uint8(140 + y/3), uint8(80 + y/2), 255}
			hill := h - 60 + int(30*math.Sin(float64(x)/45))
			if y > hill {
				c = color.RGBA{34, uint8(110 + (y-hill)/2), 60, 255}
			}
			if dx, dy := x-260, y-70; dx*dx+dy*dy < 900 {
				c = color.RGBA{255, 236, 150, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// pagesStyle updates the chatbot of the signed-in client and gives it a picture.
func pagesStyle(t testing.TB, admin *testClient, base, style string) {
	t.Helper()
	resp, err := admin.HTTP.Post(base+"/chatbot/api", "application/json", strings.NewReader(style))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("styling the chatbot: %d", resp.StatusCode)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("picture", "logo.png")
	fw.Write(pagesPNG())
	mw.Close()
	resp, err = admin.HTTP.Post(base+"/chatbot/api/picture", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("uploading the picture: %d", resp.StatusCode)
	}
}

// pagesVisitorSays sends a message as a visitor over a plain websocket (no
// browser), optionally leaving an email, to fill an inbox.
func pagesVisitorSays(t *testing.T, base, username, consumer, email string, texts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	c, _, err := websocket.Dial(ctx, wsBase+"/ws/chat/"+username+"/"+consumer, nil)
	if err != nil {
		t.Fatalf("dial chat socket: %v", err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	for i, text := range texts {
		if err := wsjson.Write(ctx, c, map[string]any{"command": "new_message", "message": map[string]any{"content": text, "client_id": fmt.Sprintf("%s-%d", consumer, i)}}); err != nil {
			t.Fatal(err)
		}
		for {
			var f map[string]any
			if err := wsjson.Read(ctx, c, &f); err != nil {
				t.Fatalf("reading echo: %v", err)
			}
			if f["command"] == "new_message" {
				break
			}
		}
	}
	if email != "" {
		r, _, err := websocket.Dial(ctx, wsBase+"/ws/room/"+username, nil)
		if err != nil {
			t.Fatalf("dial room socket: %v", err)
		}
		defer r.Close(websocket.StatusNormalClosure, "")
		if err := wsjson.Write(ctx, r, map[string]any{"command": "new_room", "consumer": consumer, "email": email}); err != nil {
			t.Fatal(err)
		}
		var f map[string]any
		if err := wsjson.Read(ctx, r, &f); err != nil {
			t.Fatal(err)
		}
	}
}

// pagesSend types a message into the composer of a chat window and
// clicks Send.
func pagesSend(tab *pagesTab, text string) {
	tab.t.Helper()
	tab.run(
		chromedp.SendKeys(chromedp.ID("text"), text),
		chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)),
	)
}

// pagesSendEnter types a message and presses Enter.
func pagesSendEnter(tab *pagesTab, text string) {
	tab.t.Helper()
	tab.run(chromedp.SendKeys(chromedp.ID("text"), text+kb.Enter))
}

// pagesCount is a JS expression counting the bubbles with exactly this text.
func pagesCount(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages .lcw-bubble")].filter(b => b.textContent === %q).length`, text)
}

// pagesHostSite serves a business's web page, on another origin than the
// app, that embeds widget.js from appOrigin. Its own CSS is hostile to
// anything that would leak into the widget.
func pagesHostSite(t *testing.T, appOrigin string) *httptest.Server {
	t.Helper()
	return pagesHostSiteWith(t, appOrigin, "")
}

// pagesHostSiteWith is pagesHostSite with more attributes on the widget's
// script tag (the snippet's data-color, say).
func pagesHostSiteWith(t *testing.T, appOrigin, attrs string) *httptest.Server {
	t.Helper()
	page := `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nordic Bikes</title>
<style>
body { font: 18px Georgia, serif; margin: 40px; background: #fffbeb; }
button, div, iframe { background: red !important; width: 10px !important; border: 5px dashed red !important; }
</style></head>
<body><h1>Nordic Bikes</h1><p>Hand-built bicycles since 1987.</p>
<script src="` + appOrigin + `/widget.js" data-username="acme"` + attrs + ` async></script>
</body></html>`
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(host.Close)
	return host
}

// pagesWidgetJS runs JavaScript against the widget's shadow root (sr).
func pagesWidgetJS(body string) string {
	return `(() => { const sr = document.querySelector("[data-livechat-widget]").shadowRoot; ` + body + ` })()`
}

// pagesFrame attaches to the cross-site iframe of the chat window.
func pagesFrame(t *testing.T, tab *pagesTab, urlPrefix string) *pagesTab {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		infos, err := chromedp.Targets(tab.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, urlPrefix) {
				ctx, cancel := chromedp.NewContext(tab.ctx, chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				frame := &pagesTab{t: t, ctx: ctx}
				if err := chromedp.Listen(ctx, frame.onEvent); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(frame.check)
				return frame
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no iframe target with URL %s…", urlPrefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
