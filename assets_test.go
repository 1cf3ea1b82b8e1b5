package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

// wireGet fetches u as a browser would (Accept-Encoding: gzip unless
// identity) without the transport's transparent decompression, and
// returns the response, the bytes on the wire and the decoded body.
func wireGet(t *testing.T, u string, gz bool, header ...string) (*http.Response, []byte, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wire, _ := io.ReadAll(resp.Body)
	body := wire
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			t.Fatalf("%s: bad gzip: %v", u, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: bad gzip: %v", u, err)
		}
	}
	return resp, wire, body
}

var (
	htmlRefRE   = regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`)
	jsImportRE  = regexp.MustCompile(`(?m)(?:^|[;}\s])(?:import|export)\s*(?:[\w*{}\s,$]+\s*from\s*)?['"]([^'"]+)['"]`)
	cssURLRE    = regexp.MustCompile(`url\(\s*['"]?([^'")]+)`)
	unversioned = regexp.MustCompile(`/static/[a-z]+/`)
)

// TestVisitorWindowBudget loads the visitor window as a browser does:
// the page, then every stylesheet, script and icon it names, then every
// module those scripts import and every url() the stylesheets use,
// gzipped, and sums the bytes on the wire: at most 30 KB (SPEC). Each
// asset comes from a versioned URL with a one-year immutable cache, and
// the gzip sent is the one kept from the first compression. widget.js is at most 5 KB gzipped and is
// revalidated by ETag.
func TestVisitorWindowBudget(t *testing.T) {
	ts := newTestServer(t)
	ts.client().signup("acme")

	resp, wire, html := wireGet(t, ts.URL+"/chatbot/acme/visitor-1", true)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Fatalf("visitor window: %d Content-Encoding=%q Vary=%q", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
	}
	sizes := map[string]int{"page": len(wire)}
	prefix := "/static/" + staticFiles.version + "/"
	var queue []string
	for _, m := range htmlRefRE.FindAllStringSubmatch(string(html), -1) {
		if !strings.HasPrefix(m[1], prefix) {
			t.Errorf("the page names %s, not a versioned URL", m[1])
		}
		queue = append(queue, m[1])
	}
	if len(queue) < 2 {
		t.Fatalf("the page names too few assets: %v", queue)
	}
	base, _ := url.Parse(ts.URL)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if _, seen := sizes[p]; seen {
			continue
		}
		resp, wire, body := wireGet(t, ts.URL+p, true)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		if got := resp.Header.Get("Cache-Control"); got != immutableCache {
			t.Errorf("%s: Cache-Control %q", p, got)
		}
		a := staticFiles.assets["/static/"+strings.TrimPrefix(p, prefix)]
		gz, _ := a.gzipped()
		if gz != nil && !bytes.Equal(wire, gz) {
			t.Errorf("%s: the gzip sent is not the one made once", p)
		}
		if gz == nil && strings.HasSuffix(p, ".js") {
			t.Errorf("%s: a script served uncompressed", p)
		}
		sizes[p] = len(wire)
		var refs [][]string
		switch {
		case strings.HasSuffix(p, ".js"):
			refs = jsImportRE.FindAllStringSubmatch(string(body), -1)
		case strings.HasSuffix(p, ".css"):
			refs = cssURLRE.FindAllStringSubmatch(string(body), -1)
		}
		for _, m := range refs {
			if strings.HasPrefix(m[1], "data:") || strings.HasPrefix(m[1], "#") {
				continue
			}
			ref, err := base.Parse(p)
			if err == nil {
				ref, err = ref.Parse(m[1])
			}
			if err != nil || ref.Host != base.Host {
				t.Errorf("%s refers to %q", p, m[1])
				continue
			}
			queue = append(queue, ref.Path)
		}
	}
	total := 0
	var lines []string
	for p, n := range sizes {
		total += n
		lines = append(lines, p+" "+itoa(n))
	}
	sort.Strings(lines)
	t.Logf("visitor window, gzipped on the wire: %d bytes\n%s", total, strings.Join(lines, "\n"))
	if !hasSuffixIn(sizes, "/js/chat.js") || !hasSuffixIn(sizes, "/js/conversation.js") {
		t.Errorf("the walk missed the scripts: %v", lines)
	}
	if total > 30*1024 {
		t.Errorf("visitor window is %d bytes gzipped, over the 30 KB budget", total)
	}

	// widget.js: small, gzipped, revalidated.
	resp, wire, body := wireGet(t, ts.URL+"/widget.js", true)
	t.Logf("widget.js: %d bytes gzipped (%d plain)", len(wire), len(body))
	if resp.Header.Get("Content-Encoding") != "gzip" || len(wire) > 5*1024 {
		t.Errorf("widget.js: Content-Encoding %q, %d bytes on the wire (budget 5 KB)", resp.Header.Get("Content-Encoding"), len(wire))
	}
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Cache-Control") != "no-cache" || etag == "" {
		t.Errorf("widget.js: Cache-Control %q ETag %q", resp.Header.Get("Cache-Control"), etag)
	}
	if resp, _, _ := wireGet(t, ts.URL+"/widget.js", true, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("widget.js with its ETag: %d, want 304", resp.StatusCode)
	}
	// Without gzip (or refusing it) the same text, uncompressed.
	for _, enc := range []string{"", "gzip;q=0, identity"} {
		resp, _, plain := wireGet(t, ts.URL+"/widget.js", false, "Accept-Encoding", enc)
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain, body) || resp.Header.Get("ETag") == etag {
			t.Errorf("widget.js with Accept-Encoding %q: Content-Encoding %q, same body %v, ETag %q", enc, resp.Header.Get("Content-Encoding"), bytes.Equal(plain, body), resp.Header.Get("ETag"))
		}
	}
	// A version that is not this build's is not served.
	if resp, _, _ := wireGet(t, ts.URL+"/static/0123456789ab/css/app.css", true); resp.StatusCode != 404 {
		t.Errorf("a foreign version: %d", resp.StatusCode)
	}
}

func hasSuffixIn(m map[string]int, suffix string) bool {
	for k := range m {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// TestStaticRewriteIsGeneric runs the start-up step on made-up files: every
// "/static/" in templates, stylesheets and scripts gets the version,
// relative imports stay relative, the version follows any file's content,
// and templates outside static/ itself or unknown types are not served.
func TestStaticRewriteIsGeneric(t *testing.T) {
	files := fstest.MapFS{
		"static/page.html":      {Data: []byte(`<link rel="stylesheet" href="/static/css/s.css"><script type="module" src="/static/js/a.js"></script>`)},
		"static/js/a.js":        {Data: []byte("import { b } from './b.js';\nimport '/static/js/c.js';\nexport const a = b + 1;\n" + strings.Repeat("// padding to compress\n", 20))},
		"static/js/b.js":        {Data: []byte("export const b = 1;")},
		"static/js/c.js":        {Data: []byte("console.log('c');")},
		"static/css/s.css":      {Data: []byte(".x{background:url(/static/img/i.svg)}")},
		"static/img/i.svg":      {Data: []byte("<svg/>")},
		"static/notes.md":       {Data: []byte("not served")},
		"static/sub/inner.html": {Data: []byte("not a page template")},
	}
	set := loadStaticSet(files)
	v := set.version
	if len(v) != 12 || unversioned.MatchString(v) {
		t.Fatalf("version %q", v)
	}
	page := string(set.pages["static/page.html"].Data)
	for _, want := range []string{`href="/static/` + v + `/css/s.css"`, `src="/static/` + v + `/js/a.js"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page %q lacks %q", page, want)
		}
	}
	a := string(set.assets["/static/js/a.js"].data)
	if !strings.Contains(a, "from './b.js'") || !strings.Contains(a, "import '/static/"+v+"/js/c.js'") {
		t.Errorf("a.js rewritten to %q", a)
	}
	if css := string(set.assets["/static/css/s.css"].data); css != ".x{background:url(/static/"+v+"/img/i.svg)}" {
		t.Errorf("css rewritten to %q", css)
	}
	if gzA, _ := set.assets["/static/js/a.js"].gzipped(); gzA == nil {
		t.Error("a.js compresses, yet no gzip")
	}
	if gzB, _ := set.assets["/static/js/b.js"].gzipped(); gzB != nil {
		t.Error("b.js does not get smaller, yet a gzip is kept")
	}
	for _, p := range []string{"/static/notes.md", "/static/sub/inner.html", "/static/page.html"} {
		if set.assets[p] != nil {
			t.Errorf("%s is served", p)
		}
	}
	if _, ok := set.pages["static/sub/inner.html"]; ok {
		t.Error("a nested .html became a page template")
	}
	files["static/js/b.js"] = &fstest.MapFile{Data: []byte("export const b = 2;")}
	if loadStaticSet(files).version == v {
		t.Error("changing one file left the version as it was")
	}
}
