package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	"golang.org/x/crypto/bcrypt"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "also write docs/screenshots/*.png from the browser tests")

// pagesBrowserNames are where the browser tests look for Chromium.
var pagesBrowserNames = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

var (
	pagesBrowserOnce sync.Once
	pagesBrowserCtx  context.Context
	pagesBrowserErr  error
	pagesShotsDir    string
)

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
		// The browser lives as long as the test binary: chromedp kills it
		// when this process exits (Pdeathsig).
		alloc, _ := chromedp.NewExecAllocator(context.Background(),
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
		ctx, _ := chromedp.NewContext(alloc)
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
	ts     *httptest.Server
	URL    string
}

func pagesStartApp(t *testing.T) *pagesApp {
	t.Helper()
	a := &pagesApp{t: t, dbPath: filepath.Join(t.TempDir(), "t.db")}
	a.start()
	t.Cleanup(a.stop)
	return a
}

func (a *pagesApp) start() {
	a.t.Helper()
	db, err := OpenDB(context.Background(), a.dbPath, "NORMAL")
	if err != nil {
		a.t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.BcryptCost = bcrypt.MinCost
	cfg.RateMessages = 0
	srv := NewServer(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	addr := a.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	for i := 0; ; i++ {
		l, err = net.Listen("tcp", addr)
		if err == nil || i > 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the old listener's port may linger
	}
	if err != nil {
		a.t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	a.srv, a.db, a.ts = srv, db, ts
	a.addr = l.Addr().String()
	a.URL = ts.URL
}

func (a *pagesApp) stop() {
	if a.ts == nil {
		return
	}
	a.srv.CloseSockets()
	a.ts.CloseClientConnections()
	a.ts.Close()
	a.srv.Close()
	a.db.Close()
	a.ts = nil
}

func (a *pagesApp) restart() {
	a.t.Helper()
	a.stop()
	a.start()
}

// pagesSignIn signs an admin in through the sign-in form.
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
}

// pagesFill replaces the value of the input with that id by typing.
func pagesFill(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ""`, id)),
		chromedp.SendKeys(chromedp.ID(id), value),
	)
}

// pagesPNG is a small valid PNG (a 2×2 orange square).
func pagesPNG() []byte {
	return []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd\xd4\x9as\x00\x00\x00\x14IDATx\x9cc\xf8\xcf`\xc0\x00\x18\x90\x00\x00\x00\x00\xff\xff\x03\x00]\xd2\x0c\xfd\x00\x00\x00\x00IEND\xaeB`\x82")
}

var _ = http.StatusOK
