package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"nhooyr.io/websocket"
	"nhooyr.io/websocket/wsjson"
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

// pagesApp is a running app whose server can be restarted on the same
// address over the same database file.
type pagesApp struct {
	t      *testing.T
	dbPath string
	addr   string
	srv    *Server
	db     *DB
	server *testServer
	URL    string
}

func pagesStartApp(t *testing.T) *pagesApp {
	t.Helper()
	a := &pagesApp{t: t, dbPath: filepath.Join(t.TempDir(), "t.db")}
	a.start()
	return a
}

func (a *pagesApp) start() {
	a.t.Helper()
	ts := startTestServer(a.t, a.dbPath, a.addr, func(c *Config) { c.RateMessages = 0 })
	a.server, a.srv, a.db, a.URL = ts, ts.Server, ts.DB, ts.URL
	a.addr = ts.HTTP.Listener.Addr().String()
}

func (a *pagesApp) stop() { a.server.Close() }

func (a *pagesApp) restart() {
	a.t.Helper()
	a.stop()
	a.start()
}

// pagesSignIn signs an admin in through the sign-in form.
// openRoom waits for a conversation in the inbox's list and opens it.
func (tab *pagesTab) openRoom(consumer string) {
	tab.t.Helper()
	sel := `#rooms .room[data-consumer="` + consumer + `"]`
	tab.waitJS("the room "+consumer, "document.querySelector('"+sel+"')", 5*time.Second)
	tab.run(chromedp.Click(chromedp.CSS(sel)))
}

func pagesSignIn(tab *pagesTab, base, username string) {
	tab.t.Helper()
	tab.run(
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), "correct horse"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("the inbox", `location.pathname === "/messages" && document.getElementById("inbox-app")`, 10*time.Second)
}

func TestBrowserSignup(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	tab := pagesNewTab(t, browser, true)

	tab.run(chromedp.Navigate(app.URL + "/"))
	tab.waitJS("landing", `document.querySelector(".hero h1")`, 5*time.Second)
	tab.screenshot("landing")

	tab.run(
		chromedp.Navigate(app.URL+"/signup"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "Nordic-Bikes"),
		chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("inline password error", `document.getElementById("password-error").textContent.includes("8")`, 5*time.Second)

	// A reserved username: the server's field error shows next to the field.
	tab.run(
		pagesFill("username", "api"),
		pagesFill("password", "correct horse"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("server field error", `document.getElementById("username-error").textContent !== ""`, 5*time.Second)
	tab.screenshot("signup-error")

	tab.run(
		pagesFill("username", "Nordic-Bikes"),
		chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)),
	)
	tab.waitJS("the inbox after signup", `location.pathname === "/messages"`, 10*time.Second)
	if got := pagesEval[string](tab, `document.getElementById("inbox-app").dataset.username`); got != "nordic-bikes" {
		t.Errorf("inbox username = %q, want nordic-bikes", got)
	}
	// Signed in: /signin sends the admin on to the inbox.
	tab.run(chromedp.Navigate(app.URL + "/signin"))
	tab.waitJS("redirect to the inbox", `location.pathname === "/messages"`, 5*time.Second)
}

func TestBrowserSettingsPreview(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, app.URL, "acme")

	tab.run(chromedp.Navigate(app.URL + "/settings"))
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	tab.waitJS("snippet", `document.getElementById("snippet").textContent === '<script src="`+app.URL+`/widget.js" data-username="acme" async></script>'`, 5*time.Second)

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
	visitor.run(chromedp.Navigate(app.URL + "/chatbot/acme/style-check"))
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
		pagesFill("old_password", "correct horse"),
		chromedp.Click(chromedp.CSS(`#pw-form button[type="submit"]`)),
	)
	tab.waitJS("password changed", `document.getElementById("pw-saved").textContent.includes("changed")`, 5*time.Second)

	// Sign out: back to the landing page; the inbox now asks to sign in.
	tab.run(chromedp.Click(chromedp.CSS(`.topbar .js-signout`)))
	tab.waitJS("signed out", `location.pathname === "/" && document.querySelector('a[href="/signup"]')`, 5*time.Second)
	tab.run(chromedp.Navigate(app.URL + "/messages"))
	tab.waitJS("sent to sign in", `location.pathname === "/signin"`, 5*time.Second)
}

// Friendly 404 pages, for pages and for unknown chat windows.
func TestBrowserNotFound(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(app.URL + "/no/such/page"))
	tab.waitJS("404 page", `document.querySelector(".nf h1").textContent === "Page not found"`, 5*time.Second)
	tab.screenshot("404")
	tab.run(chromedp.Navigate(app.URL + "/chatbot/nobody/some-visitor"))
	tab.waitJS("unknown chat", `document.querySelector(".nf p:not(.code)").textContent.includes("no chat here")`, 5*time.Second)
}

// pagesWait polls a condition on the Go side.
func pagesWait(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

var _ = http.StatusOK

// pagesStyle updates the chatbot of the signed-in client and gives it a picture.
func pagesStyle(t *testing.T, admin *http.Client, base, style string) {
	t.Helper()
	resp, err := admin.Post(base+"/chatbot/api", "application/json", strings.NewReader(style))
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
	resp, err = admin.Post(base+"/chatbot/api/picture", mw.FormDataContentType(), &body)
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

func TestBrowserMessaging(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	admin := pagesClient(t)
	pagesSignup(t, admin, app.URL, "acme")
	// Two earlier conversations, so the inbox looks lived-in.
	pagesVisitorSays(t, app.URL, "acme", "e3b0c442-98fc-4c14", "maria@example.com", "Hi! Is the Trail 29 still in stock in size L?")
	pagesVisitorSays(t, app.URL, "acme", "9f86d081-884c-4d63", "", "Do you offer repairs for e-bikes?", "I live close to the shop.")
	// A styled chatbot with a picture, for the visitor's screenshot.
	pagesStyle(t, admin, app.URL, `{"chatbotName":"Nordic Bikes","introductionText":"Hi! Questions about a bike, a repair or a test ride? We usually answer within minutes.",`+
		`"headerBackgroundColor":"#14532d","senderBackground":"#15803d","introductionBackgroundColor":"#f0fdf4","introductionTextColor":"#14532d"}`)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.waitJS("two rooms", `document.querySelectorAll("#rooms .room").length === 2`, 5*time.Second)
	inbox.waitJS("unread count in the title", `document.title.startsWith("(3)")`, 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(app.URL + "/chatbot/acme/visitor-one"))
	visitor.waitJS("business online", `document.getElementById("status").classList.contains("is-online")`, 5*time.Second)
	visitor.waitJS("socket open", `document.getElementById("offline").hidden`, 5*time.Second)

	// Visitor → admin.
	start := time.Now()
	pagesSend(visitor, "Hello! Can I book a test ride on Saturday?")
	inbox.waitJS("the new room", `document.querySelector('#rooms .room[data-consumer="visitor-one"]')`, 5*time.Second)
	inbox.waitJS("new room first", `document.querySelector("#rooms .room").dataset.consumer === "visitor-one"`, 5*time.Second)
	inbox.run(chromedp.Click(chromedp.CSS(`#rooms .room[data-consumer="visitor-one"]`)))
	inbox.waitJS("the visitor's message", pagesCount("Hello! Can I book a test ride on Saturday?")+" === 1", 5*time.Second)
	t.Logf("visitor → admin: %v", time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("visitor → admin took %v", d)
	}
	// The admin read it: the visitor sees "Seen".
	visitor.waitJS("seen by the business", `document.querySelector("#messages .is-seen")`, 5*time.Second)

	// Admin → visitor, with the typing indicator first.
	inbox.run(chromedp.SendKeys(chromedp.ID("text"), "Of course"))
	visitor.waitJS("typing indicator", `document.getElementById("typing").textContent.includes("typing")`, 5*time.Second)
	start = time.Now()
	pagesSendEnter(inbox, " — 10:00 or 14:00?")
	visitor.waitJS("the admin's reply", pagesCount("Of course — 10:00 or 14:00?")+" === 1", 5*time.Second)
	t.Logf("admin → visitor: %v", time.Since(start))
	visitor.waitJS("typing indicator gone", `document.getElementById("typing").textContent === ""`, 5*time.Second)
	inbox.waitJS("seen by the visitor", `document.querySelector("#messages .is-mine.is-seen")`, 5*time.Second)

	// The optional email, asked after the first message, is stored.
	visitor.waitJS("the email prompt", `!document.getElementById("email-form").hidden`, 5*time.Second)
	visitor.run(
		chromedp.SendKeys(chromedp.ID("email"), "ola@example.com"),
		chromedp.Click(chromedp.CSS(`#email-form button[type="submit"]`)),
	)
	visitor.waitJS("the email prompt gone", `document.getElementById("email-form").hidden`, 5*time.Second)
	pagesWait(t, "the visitor's email stored", 5*time.Second, func() bool {
		_, body := pagesGet(t, admin, app.URL+"/chatbot/api/rooms")
		return strings.Contains(body, `"consumer":"visitor-one","consumer_email":"ola@example.com"`)
	})
	// ... and shows in the open inbox at once, without a reload.
	inbox.waitJS("the email in the inbox", `document.getElementById("convo-name").textContent === "ola@example.com"`, 5*time.Second)

	// The visitor typing shows in the inbox.
	visitor.run(chromedp.SendKeys(chromedp.ID("text"), "10:00"))
	inbox.waitJS("visitor typing in the inbox", `document.getElementById("typing").textContent.includes("typing")`, 5*time.Second)
	visitor.run(pagesFill("text", ""))

	// Shift+Enter makes a new line, Enter sends.
	visitor.run(chromedp.SendKeys(chromedp.ID("text"), "10:00 please."))
	visitor.run(chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)))
	pagesSendEnter(visitor, "My name is Ola.")
	inbox.waitJS("two-line message", pagesCount("10:00 please.\nMy name is Ola.")+" === 1", 5*time.Second)

	// An image from the visitor shows on both sides.
	pic := filepath.Join(t.TempDir(), "bike.png")
	if err := os.WriteFile(pic, pagesPNG(), 0o644); err != nil {
		t.Fatal(err)
	}
	visitor.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{pic}))
	loaded := `[...document.querySelectorAll("#messages .lcw-bubble img")].filter(i => i.complete && i.naturalWidth > 0 && i.alt === "bike.png").length === 1`
	visitor.waitJS("image on the visitor's side", loaded, 5*time.Second)
	inbox.waitJS("image in the inbox", loaded, 5*time.Second)

	// And an image from the admin.
	inbox.run(chromedp.SetUploadFiles(chromedp.ID("attach"), []string{pic}))
	inbox.waitJS("admin image", `document.querySelectorAll("#messages .is-mine .lcw-bubble img").length === 1`, 5*time.Second)
	visitor.waitJS("admin image at the visitor", `[...document.querySelectorAll("#messages .lcw-msg:not(.is-mine) .lcw-bubble img")].filter(i => i.complete && i.naturalWidth > 0).length === 1`, 5*time.Second)

	pagesSend(inbox, "See you Saturday at 10:00, Ola! Bring a helmet if you have one.")
	visitor.waitJS("last reply", pagesCount("See you Saturday at 10:00, Ola! Bring a helmet if you have one.")+" === 1", 5*time.Second)
	pagesSend(visitor, "Great, thank you!")
	inbox.waitJS("thanks", pagesCount("Great, thank you!")+" === 1", 5*time.Second)

	// No message appears twice on either side.
	for _, tab := range []*pagesTab{inbox, visitor} {
		if dup := pagesEval[int](tab, `(() => { const ids = [...document.querySelectorAll("#messages .lcw-msg")].map(li => li.dataset.id); return ids.length - new Set(ids).size })()`); dup != 0 {
			t.Errorf("%d duplicate messages", dup)
		}
	}
	// The filter box narrows the list.
	inbox.run(chromedp.SendKeys(chromedp.ID("filter"), "maria"))
	inbox.waitJS("filtered", `document.querySelectorAll("#rooms .room").length === 1`, 5*time.Second)
	inbox.run(pagesFill("filter", ""))
	inbox.waitJS("unfiltered", `document.querySelectorAll("#rooms .room").length === 3`, 5*time.Second)
	inbox.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 1e6`))

	pagesClearComposer(inbox)
	inbox.docScreenshot("inbox")
	visitor.run(chromedp.EmulateViewport(400, 720))
	pagesClearComposer(visitor)
	visitor.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 1e6`))
	visitor.docScreenshot("visitor")

	// Export and delete.
	resp, body := pagesGet(t, admin, app.URL+"/chatbot/api/rooms/visitor-one/export")
	if resp.StatusCode != 200 || !strings.Contains(body, "Great, thank you!") {
		t.Errorf("export: %d", resp.StatusCode)
	}
	inbox.run(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	inbox.run(chromedp.Click(chromedp.ID("delete")))
	inbox.waitJS("room deleted", `!document.querySelector('#rooms .room[data-consumer="visitor-one"]') && document.getElementById("convo").hidden`, 5*time.Second)
}

func TestBrowserInboxSurvivesRestart(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(app.URL + "/chatbot/acme/restart-visitor"))
	visitor.waitJS("socket open", `document.getElementById("offline").hidden && document.getElementById("status").classList.contains("is-online")`, 5*time.Second)

	pagesSend(visitor, "Before the restart")
	inbox.openRoom("restart-visitor")
	inbox.waitJS("first message", pagesCount("Before the restart")+" === 1", 5*time.Second)
	pagesSend(inbox, "Reply before the restart")
	visitor.waitJS("first reply", pagesCount("Reply before the restart")+" === 1", 5*time.Second)

	// The server goes away: both windows say so, and keep what is typed.
	app.stop()
	inbox.waitJS("offline banner in the inbox", `!document.getElementById("offline").hidden`, 5*time.Second)
	visitor.waitJS("offline banner at the visitor", `!document.getElementById("offline").hidden`, 5*time.Second)
	inbox.screenshot("offline")
	pagesSend(visitor, "Sent while the server was down")
	pagesSend(inbox, "Admin wrote while offline")
	visitor.waitJS("pending at the visitor", `document.querySelector("#messages .is-pending")`, 2*time.Second)

	// Same address, same database file.
	start := time.Now()
	app.start()
	inbox.waitJS("inbox back online", `document.getElementById("offline").hidden`, 20*time.Second)
	visitor.waitJS("visitor back online", `document.getElementById("offline").hidden`, 20*time.Second)
	for _, tab := range []*pagesTab{inbox, visitor} {
		tab.waitJS("the visitor's offline message, once", pagesCount("Sent while the server was down")+" === 1", 10*time.Second)
		tab.waitJS("the admin's offline message, once", pagesCount("Admin wrote while offline")+" === 1", 10*time.Second)
		tab.waitJS("nothing pending", `!document.querySelector("#messages .is-pending")`, 5*time.Second)
	}
	t.Logf("recovered %v after the restart", time.Since(start))

	// Live again in both directions, nothing lost or doubled.
	pagesSend(visitor, "After the restart")
	inbox.waitJS("live after the restart", pagesCount("After the restart")+" === 1", 5*time.Second)
	want := []string{"Before the restart", "Reply before the restart", "Sent while the server was down", "Admin wrote while offline", "After the restart"}
	for _, tab := range []*pagesTab{inbox, visitor} {
		got := pagesEval[[]string](tab, `[...document.querySelectorAll("#messages .lcw-bubble")].map(b => b.textContent)`)
		if len(got) != len(want) {
			t.Errorf("messages after the restart = %q, want %d messages %q", got, len(want), want)
			continue
		}
		seen := map[string]int{}
		for _, g := range got {
			seen[g]++
		}
		for _, w := range want {
			if seen[w] != 1 {
				t.Errorf("%q shown %d times, want once (all: %q)", w, seen[w], got)
			}
		}
	}
	inbox.waitJS("room list still correct", `document.querySelectorAll("#rooms .room").length === 1`, 5*time.Second)
}

// pagesHostSite serves a business's web page, on another origin than the
// app, that embeds widget.js from appOrigin. Its own CSS is hostile to
// anything that would leak into the widget.
func pagesHostSite(t *testing.T, appOrigin string) *httptest.Server {
	t.Helper()
	page := `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nordic Bikes</title>
<style>
body { font: 18px Georgia, serif; margin: 40px; background: #fffbeb; }
button, div, iframe { background: red !important; width: 10px !important; border: 5px dashed red !important; }
</style></head>
<body><h1>Nordic Bikes</h1><p>Hand-built bicycles since 1987.</p>
<script src="` + appOrigin + `/widget.js" data-username="acme" async></script>
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

func TestBrowserWidgetCrossOrigin(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	// The app is reached as localhost, the business's site as 127.0.0.1:
	// two origins and two sites.
	appOrigin := strings.Replace(app.URL, "127.0.0.1", "localhost", 1)
	host := pagesHostSite(t, appOrigin)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")

	site := pagesNewTab(t, browser, true)
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	// The host page's CSS does not reach into the widget.
	if w := pagesEval[string](site, pagesWidgetJS(`return getComputedStyle(sr.querySelector(".btn")).width`)); w != "60px" {
		t.Errorf("chat button width = %s, want 60px (host CSS leaked in)", w)
	}
	// A first-time visitor gets no iframe (and no socket) until they open it.
	if n := pagesEval[int](site, pagesWidgetJS(`return sr.querySelectorAll("iframe").length`)); n != 0 {
		t.Errorf("iframe before opening: %d", n)
	}
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("the panel", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".panel")).display === "block" && sr.querySelector("iframe")`), 5*time.Second)
	id := pagesEval[string](site, `localStorage.getItem("livechat:`+appOrigin+`:acme")`)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("visitor id in the host's localStorage = %q, want a random UUID", id)
	}
	frameURL := appOrigin + "/chatbot/acme/" + id
	if src := pagesEval[string](site, pagesWidgetJS(`return sr.querySelector("iframe").src`)); src != frameURL {
		t.Errorf("iframe src = %q, want %q", src, frameURL)
	}

	frame := pagesFrame(t, site, frameURL)
	frame.waitJS("the chat window connected", `document.getElementById("offline").hidden && document.getElementById("status").classList.contains("is-online")`, 10*time.Second)
	pagesSend(frame, "Hi from your website!")
	inbox.waitJS("the widget's room", `document.querySelector('#rooms .room[data-consumer="`+id+`"]')`, 5*time.Second)
	inbox.run(chromedp.Click(chromedp.CSS(`#rooms .room[data-consumer="` + id + `"]`)))
	inbox.waitJS("the widget's message", pagesCount("Hi from your website!")+" === 1", 5*time.Second)
	pagesSend(inbox, "Hello! How can we help?")
	frame.waitJS("the reply in the widget", pagesCount("Hello! How can we help?")+" === 1", 5*time.Second)
	site.screenshot("open")

	// Closed, an answer shows as a dot on the button.
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("closed", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".panel")).display === "none"`), 5*time.Second)
	pagesSend(inbox, "Are you still there?")
	site.waitJS("the unread dot", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".dot")).display === "block"`), 5*time.Second)
	site.screenshot("unread")
	// ...and is not marked "Seen" while the widget is closed.
	time.Sleep(300 * time.Millisecond)
	if pagesEval[bool](inbox, `!!document.querySelector("#messages .is-seen")?.textContent.includes("Are you still there?")`) {
		t.Errorf("a message to a closed widget was marked Seen")
	}

	// A returning visitor keeps the conversation: same id, history loads.
	site.run(chromedp.Navigate(host.URL))
	site.waitJS("iframe made at once for a returning visitor", pagesWidgetJS(`return sr.querySelector("iframe")?.src === "`+frameURL+`"`), 5*time.Second)
	frame2 := pagesFrame(t, site, frameURL)
	frame2.waitJS("history", pagesCount("Are you still there?")+" === 1", 10*time.Second)
}

func TestBrowserPhone(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	pagesVisitorSays(t, app.URL, "acme", "phone-visitor", "ola@example.com", "Hi! Is the shop open on Sunday?")

	// The visitor window at phone size: no sideways scrolling, the composer
	// on screen, big enough to tap.
	visitor := pagesNewTab(t, browser, true)
	visitor.run(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(app.URL+"/chatbot/acme/phone-visitor"),
	)
	visitor.waitJS("history", pagesCount("Hi! Is the shop open on Sunday?")+" === 1", 5*time.Second)
	visitor.waitJS("no sideways scroll", `document.documentElement.scrollWidth <= innerWidth`, 2*time.Second)
	visitor.waitJS("composer on screen", `(() => { const r = document.getElementById("text").getBoundingClientRect(); return r.bottom <= innerHeight && r.height >= 40 && r.width > 200 })()`, 2*time.Second)
	visitor.waitJS("send button tappable", `document.querySelector('#composer button[type="submit"]').getBoundingClientRect().height >= 40`, 2*time.Second)
	pagesSend(visitor, "And on Monday?")
	visitor.waitJS("sent", pagesCount("And on Monday?")+" === 1", 5*time.Second)
	visitor.run(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	visitor.screenshot("visitor")

	// The inbox at phone size: the list, then one conversation with a way back.
	inbox := pagesNewTab(t, browser, true)
	inbox.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	pagesSignIn(inbox, app.URL, "acme")
	inbox.waitJS("the room", `document.querySelector('#rooms .room[data-consumer="phone-visitor"]')`, 5*time.Second)
	inbox.screenshot("inbox-list")
	inbox.run(chromedp.Click(chromedp.CSS(`#rooms .room[data-consumer="phone-visitor"]`)))
	inbox.waitJS("conversation full width", `(() => { const r = document.getElementById("convo").getBoundingClientRect(); return r.width >= 380 && getComputedStyle(document.querySelector(".rooms-pane")).display === "none" })()`, 5*time.Second)
	inbox.waitJS("no sideways scroll", `document.documentElement.scrollWidth <= innerWidth`, 2*time.Second)
	inbox.screenshot("inbox-conversation")
	inbox.run(chromedp.Click(chromedp.ID("back")))
	inbox.waitJS("back to the list", `getComputedStyle(document.querySelector(".rooms-pane")).display !== "none"`, 5*time.Second)

	// Settings at phone size: one column, nothing sideways.
	inbox.run(chromedp.Navigate(app.URL + "/settings"))
	inbox.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	inbox.waitJS("no sideways scroll in settings", `document.documentElement.scrollWidth <= innerWidth`, 2*time.Second)
	inbox.screenshot("settings")

	// The widget opens full screen on a phone.
	host := pagesHostSite(t, strings.Replace(app.URL, "127.0.0.1", "localhost", 1))
	site := pagesNewTab(t, browser, true)
	site.run(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(host.URL),
	)
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("full screen panel", pagesWidgetJS(`const r = sr.querySelector(".panel").getBoundingClientRect(); return r.left === 0 && r.top === 0 && r.width === innerWidth && r.height === innerHeight`), 5*time.Second)
	site.waitJS("close button", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".close")).display === "block"`), 5*time.Second)
	pagesFrame(t, site, strings.Replace(app.URL, "127.0.0.1", "localhost", 1)+"/chatbot/acme/").
		waitJS("widget connected", `document.getElementById("offline").hidden`, 10*time.Second)
	site.screenshot("widget")
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".close").click()`)))
	site.waitJS("closed again", pagesWidgetJS(`return getComputedStyle(sr.querySelector(".panel")).display === "none" && getComputedStyle(sr.querySelector(".btn")).display !== "none"`), 5*time.Second)
}

// The watchdog itself: a CSP violation and an uncaught exception on one of
// our pages are caught, so the other browser tests would fail on them.
func TestBrowserCatchesCSPViolations(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancel()
	tab := &pagesTab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, tab.onEvent); err != nil {
		t.Fatal(err)
	}
	tab.run(chromedp.Navigate(app.URL + "/"))
	tab.run(chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.createElement("script"); s.textContent = "window.x = 1"; document.body.append(s);
		const i = document.createElement("img"); i.src = "https://example.invalid/x.png"; document.body.append(i);
		setTimeout(() => { throw new Error("boom") }, 0);
	})()`))
	deadline := time.Now().Add(5 * time.Second)
	for {
		tab.mu.Lock()
		all := strings.Join(tab.bad, "\n")
		tab.mu.Unlock()
		if strings.Contains(all, "CSP") && strings.Contains(all, "inline") && strings.Contains(all, "example.invalid") && strings.Contains(all, "boom") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watchdog missed something; it saw:\n%s", all)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if x := pagesEval[bool](tab, `window.x === 1`); x {
		t.Errorf("an inline script ran despite the CSP")
	}
}

// Scrolling up in a long conversation loads older messages, page by page,
// in order and without duplicates.
func TestBrowserHistoryPaging(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	const n = 130
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("Message number %d", i+1)
	}
	pagesVisitorSays(t, app.URL, "acme", "long-talk", "", texts...)

	check := func(tab *pagesTab) {
		tab.t.Helper()
		tab.waitJS("the last page", pagesCount("Message number 130")+" === 1", 5*time.Second)
		if got := pagesEval[int](tab, `document.querySelectorAll("#messages .lcw-msg").length`); got >= n {
			t.Errorf("first load showed %d messages; want one page", got)
		}
		for i := 0; i < 10; i++ {
			if pagesEval[int](tab, `document.querySelectorAll("#messages .lcw-msg").length`) == n {
				break
			}
			tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 0`))
			time.Sleep(300 * time.Millisecond)
		}
		got := pagesEval[[]string](tab, `[...document.querySelectorAll("#messages .lcw-bubble")].map(b => b.textContent)`)
		if len(got) != n {
			t.Fatalf("after scrolling up: %d messages, want %d", len(got), n)
		}
		for i, g := range got {
			if g != texts[i] {
				t.Fatalf("message %d = %q, want %q", i, g, texts[i])
			}
		}
	}

	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(app.URL + "/chatbot/acme/long-talk"))
	check(visitor)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.openRoom("long-talk")
	check(inbox)
}

// A message's file is only ever shown as a link or image when it is one of
// our own /files/ URLs: a frame carrying another URL (another site, a
// javascript: or data: URL) shows as plain text, never as a link.
func TestBrowserFileLinksSameOriginOnly(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(app.URL + "/chatbot/acme/file-guard"))
	tab.waitJS("the window", `document.getElementById("messages")`, 5*time.Second)
	got := pagesEval[[]string](tab, `import("/static/js/common.js").then(({ fillBubble }) => [
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
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	appOrigin := strings.Replace(app.URL, "127.0.0.1", "localhost", 1)
	frameURL := appOrigin + "/chatbot/acme/framed-visitor"
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Help</title><h1>Help</h1><iframe src="`+frameURL+`" width="400" height="600" title="Chat"></iframe>`)
	}))
	t.Cleanup(host.Close)

	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
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

// A session that ends while a page is open (signed out in another tab, the
// password changed elsewhere): the next action goes to the sign-in page
// instead of showing an error the admin cannot fix there.
func TestBrowserSessionEndsMidPage(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, app.URL, "acme")
	tab.run(chromedp.Navigate(app.URL + "/settings"))
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	pagesEval[int](tab, `fetch("/accounts/api/logout", { method: "POST" }).then(r => r.status)`)
	tab.run(pagesFill("chatbotName", "New name"), chromedp.Click(chromedp.CSS(`#style-form button[type="submit"]`)))
	tab.waitJS("the sign-in page", `location.pathname === "/signin"`, 5*time.Second)
}

// The same in the inbox: deleting a conversation after the session ended
// goes to the sign-in page (no alert, nothing deleted).
func TestBrowserSessionEndsMidInbox(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	pagesVisitorSays(t, app.URL, "acme", "ended-visitor", "", "Hello?")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, app.URL, "acme")
	tab.openRoom("ended-visitor")
	tab.waitJS("the message", pagesCount("Hello?")+" === 1", 5*time.Second)
	pagesEval[int](tab, `fetch("/accounts/api/logout", { method: "POST" }).then(r => r.status)`)
	tab.run(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; window.alert = (m) => { window.alerted = m; }`))
	tab.run(chromedp.Click(chromedp.ID("delete")))
	tab.waitJS("the sign-in page", `location.pathname === "/signin"`, 5*time.Second)
}

// With storage blocked (cookies and site data off, some private modes),
// reading localStorage throws: the inbox, the visitor window and the widget
// still work.
func TestBrowserStorageBlocked(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	pagesVisitorSays(t, app.URL, "acme", "nostore-visitor", "", "Anyone there?")
	block := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(window, "localStorage", { get() { throw new DOMException("The operation is insecure.", "SecurityError"); } });`,
		})
		return err
	})

	inbox := pagesNewTab(t, browser, true)
	inbox.run(block)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.openRoom("nostore-visitor")
	inbox.waitJS("the message", pagesCount("Anyone there?")+" === 1", 5*time.Second)
	inbox.run(chromedp.Click(chromedp.ID("sound")))
	pagesSend(inbox, "Yes, we are")
	inbox.waitJS("sent", pagesCount("Yes, we are")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(block, chromedp.Navigate(app.URL+"/chatbot/acme/nostore-visitor"))
	visitor.waitJS("history", pagesCount("Yes, we are")+" === 1", 5*time.Second)
	pagesSend(visitor, "Great")
	visitor.waitJS("sent", pagesCount("Great")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	appOrigin := strings.Replace(app.URL, "127.0.0.1", "localhost", 1)
	site := pagesNewTab(t, browser, true)
	site.run(block, chromedp.Navigate(pagesHostSite(t, appOrigin).URL))
	site.waitJS("the chat button", `document.querySelector("[data-livechat-widget]")?.shadowRoot?.querySelector(".btn")`, 5*time.Second)
	site.run(chromedp.Evaluate[chromedp.Void](pagesWidgetJS(`sr.querySelector(".btn").click()`)))
	site.waitJS("the panel", pagesWidgetJS(`return /\/chatbot\/acme\/[0-9a-f-]{36}$/.test(sr.querySelector("iframe")?.src)`), 5*time.Second)
	pagesFrame(t, site, appOrigin+"/chatbot/acme/").waitJS("widget connected", `document.getElementById("offline").hidden`, 10*time.Second)
}

// The business deletes a conversation while the visitor has the window
// open: what the visitor writes next is not stuck at "Sending…"; it starts
// a new conversation that reaches the inbox.
func TestBrowserVisitorAfterDelete(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	admin := pagesClient(t)
	pagesSignup(t, admin, app.URL, "acme")
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(app.URL + "/chatbot/acme/deleted-visitor"))
	visitor.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	pagesSend(visitor, "First question")
	visitor.waitJS("sent", pagesCount("First question")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	req, _ := http.NewRequest(http.MethodDelete, app.URL+"/chatbot/api/rooms/deleted-visitor", nil)
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}

	pagesSend(visitor, "Second question")
	visitor.waitJS("delivered", pagesCount("Second question")+" === 1 && !document.querySelector('#messages .is-pending')", 10*time.Second)
	visitor.waitJS("the deleted message gone", pagesCount("First question")+" === 0", 5*time.Second)
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.openRoom("deleted-visitor")
	inbox.waitJS("the message", pagesCount("Second question")+" === 1", 5*time.Second)
}

// A conversation deleted elsewhere (another tab, another device) while it
// is open in the inbox: a reply gets not_found, and the inbox says so and
// closes it instead of showing "Sending…" for good.
func TestBrowserInboxConversationDeletedElsewhere(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	admin := pagesClient(t)
	pagesSignup(t, admin, app.URL, "acme")
	pagesVisitorSays(t, app.URL, "acme", "gone-visitor", "", "Hello there")
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.openRoom("gone-visitor")
	inbox.waitJS("the message", pagesCount("Hello there")+" === 1", 5*time.Second)

	req, _ := http.NewRequest(http.MethodDelete, app.URL+"/chatbot/api/rooms/gone-visitor", nil)
	resp, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pagesSend(inbox, "Sorry for the wait")
	inbox.waitJS("the conversation closed", `document.getElementById("convo").hidden && !document.querySelector('#rooms .room[data-consumer="gone-visitor"]')`, 5*time.Second)
	inbox.waitJS("a notice", `document.getElementById("convo-empty").textContent.includes("deleted")`, 2*time.Second)
}

// An upload shows a labelled progress bar in the list while it goes, which
// fills up and then gives way to the file message.
func TestBrowserUploadProgress(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	file := filepath.Join(t.TempDir(), "manual.pdf")
	if err := os.WriteFile(file, append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("0123456789abcdef"), 3<<16)...), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(app.URL + "/chatbot/acme/upload-visitor"))
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

// The settings snippet names this server's real origin, and Copy puts it on
// the clipboard, or, where the clipboard is refused, selects it.
func TestBrowserSnippetCopy(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, app.URL, "acme")
	tab.run(chromedp.Navigate(app.URL + "/settings"))
	tab.waitJS("settings", `document.getElementById("snippet").textContent`, 5*time.Second)
	want := `<script src="` + app.URL + `/widget.js" data-username="acme" async></script>`
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

// Frames the pages do not expect (unknown commands, missing or mistyped
// fields, not even objects) throw nothing, and the page keeps working.
func TestBrowserOddFrames(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	pagesVisitorSays(t, app.URL, "acme", "odd-visitor", "", "Hi")
	// Keep every socket the page opens, to hand it made-up frames.
	keep := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.sockets = []; const WS = WebSocket; window.WebSocket = class extends WS { constructor(...a) { super(...a); window.sockets.push(this); } };`,
		})
		return err
	})
	frames := []string{
		`{"command":"bogus"}`, `{}`, `[]`, `null`, `"text"`, `42`,
		`{"command":"rooms"}`, `{"command":"rooms","rooms":{}}`, `{"command":"rooms","rooms":[null,{"consumer":5},{"consumer":"odd-visitor","messages":[null,{"id":"x"}]}]}`,
		`{"command":"new_room"}`, `{"command":"new_room","room":null}`, `{"command":"new_room","room":{"consumer":"odd-2","messages":{}}}`,
		`{"command":"new_message"}`, `{"command":"new_message","message":null}`, `{"command":"new_message","message":{"id":"7"}}`,
		`{"command":"new_message","message":{"id":999,"room":"acme odd-visitor","author":"odd-visitor","content":5,"created":"nonsense"}}`,
		`{"command":"new_message","message":{"id":998,"room":7,"author":null,"content":null,"file":{},"type":3}}`,
		`{"command":"messages"}`, `{"command":"messages","messages":{}}`, `{"command":"messages","messages":[null,{"id":"1"}]}`,
		`{"command":"presence"}`, `{"command":"room_updated"}`, `{"command":"typing"}`, `{"command":"read"}`, `{"command":"read","up_to":"x"}`,
		`{"command":"error"}`,
	}
	js, _ := json.Marshal(frames)
	inject := `(() => { for (const ws of window.sockets) if (ws.readyState === 1) for (const f of ` + string(js) + `) ws.dispatchEvent(new MessageEvent("message", { data: f })); return true })()`

	inbox := pagesNewTab(t, browser, true)
	inbox.run(keep)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.openRoom("odd-visitor")
	inbox.waitJS("the message", pagesCount("Hi")+" === 1", 5*time.Second)
	inbox.waitJS("two sockets open", `window.sockets.filter(ws => ws.readyState === 1).length === 2`, 5*time.Second)
	pagesEval[bool](inbox, inject)
	pagesSend(inbox, "Still working")
	inbox.waitJS("sent", pagesCount("Still working")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)

	visitor := pagesNewTab(t, browser, true)
	visitor.run(keep, chromedp.Navigate(app.URL+"/chatbot/acme/odd-visitor"))
	visitor.waitJS("history", pagesCount("Still working")+" === 1", 5*time.Second)
	pagesEval[bool](visitor, inject)
	pagesSend(visitor, "Me too")
	visitor.waitJS("sent", pagesCount("Me too")+" === 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
}

// The avatar letter is the name's first character, also when that is an
// emoji (outside the BMP): the script agrees with the server's initial.
func TestBrowserAvatarInitialEmoji(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	tab := pagesNewTab(t, browser, true)
	pagesSignIn(tab, app.URL, "acme")
	tab.run(chromedp.Navigate(app.URL + "/settings"))
	tab.waitJS("settings", `document.getElementById("headerBackgroundColor-hex")`, 5*time.Second)
	tab.run(pagesFill("chatbotName", "x"), chromedp.Evaluate[chromedp.Void](
		`(el => { el.value = "🚲 Nordic Bikes"; el.dispatchEvent(new Event("input", {bubbles: true})) })(document.getElementById("chatbotName"))`))
	if got := pagesEval[string](tab, `document.querySelector("#preview .js-avatar-initial").textContent`); got != "🚲" {
		t.Errorf("preview avatar letter = %q, want %q", got, "🚲")
	}
}

// A message over the server's length limit is refused in the composer with
// a reason, and the text is kept, instead of hanging at "Sending…" (the
// server answers bad_field, which names no client_id).
func TestBrowserTooLongMessage(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	pagesVisitorSays(t, app.URL, "acme", "long-visitor", "", "Hi")
	long := `"` + strings.Repeat("a", 4001) + `"`
	check := func(tab *pagesTab) {
		t.Helper()
		tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("text").value = ` + long))
		tab.run(chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
		tab.waitJS("the reason", `document.getElementById("typing").textContent.includes("too long")`, 2*time.Second)
		if n := pagesEval[int](tab, `document.querySelectorAll("#messages .is-pending").length`); n != 0 {
			t.Errorf("%d messages left pending", n)
		}
		if n := pagesEval[int](tab, `document.getElementById("text").value.length`); n != 4001 {
			t.Errorf("composer holds %d characters, want the 4001 kept", n)
		}
		if n := pagesEval[int](tab, `document.getElementById("text").maxLength`); n != 4000 {
			t.Errorf("composer maxlength = %d, want 4000", n)
		}
		tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("text").value = ""`))
		pagesSend(tab, "Short one")
		tab.waitJS("sent", pagesCount("Short one")+" >= 1 && !document.querySelector('#messages .is-pending')", 5*time.Second)
	}
	visitor := pagesNewTab(t, browser, true)
	visitor.run(chromedp.Navigate(app.URL + "/chatbot/acme/long-visitor"))
	visitor.waitJS("connected", `document.getElementById("offline").hidden`, 5*time.Second)
	check(visitor)
	inbox := pagesNewTab(t, browser, true)
	pagesSignIn(inbox, app.URL, "acme")
	inbox.openRoom("long-visitor")
	inbox.waitJS("the message", pagesCount("Hi")+" === 1", 5*time.Second)
	check(inbox)
}

// The attach control is reached with the keyboard, and then shows a focus
// ring (the real file input is invisible; its label is the button).
func TestBrowserAttachFocusVisible(t *testing.T) {
	browser := pagesBrowser(t)
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	tab := pagesNewTab(t, browser, true)
	tab.run(chromedp.Navigate(app.URL + "/chatbot/acme/keyboard-visitor"))
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
	app := pagesStartApp(t)
	admin := pagesClient(t)
	pagesSignup(t, admin, app.URL, "acme")
	pagesStyle(t, admin, app.URL, `{"headerBackgroundColor":"#b45309","senderBackground":"#065f46","background_color":"#fef3c7"}`)
	tab := pagesNewTab(t, browser, true)
	tab.run(
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{{URLPattern: app.URL + "/static/*js/chat.js", Block: true}}})
			return err
		}),
		chromedp.Navigate(app.URL+"/chatbot/acme/no-script"),
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
	app := pagesStartApp(t)
	pagesSignup(t, pagesClient(t), app.URL, "acme")
	texts := make([]string, 80)
	for i := range texts {
		texts[i] = fmt.Sprintf("Line %d", i+1)
	}
	pagesVisitorSays(t, app.URL, "acme", "drop-visitor", "", texts...)
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
	}), chromedp.Navigate(app.URL+"/chatbot/acme/drop-visitor"))
	tab.waitJS("history", pagesCount("Line 80")+" === 1", 5*time.Second)
	tab.run(chromedp.Evaluate[chromedp.Void](`document.getElementById("log").scrollTop = 0`))
	tab.waitJS("loading older", `!document.getElementById("more").hidden`, 5*time.Second)
	tab.run(chromedp.Evaluate[chromedp.Void](`window.sockets.forEach(ws => ws.close())`))
	tab.waitJS("reconnected", `window.sockets.length === 2 && window.sockets[1].readyState === 1 && document.getElementById("offline").hidden`, 10*time.Second)
	tab.waitJS("no stale loading line", `document.getElementById("more").hidden`, 5*time.Second)
}
