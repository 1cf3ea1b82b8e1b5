package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing/fstest"
	"time"
)

// Light pages. Every servable file under static/ is read once at start,
// its references rewritten, and gzipped once, on its first request (at the
// best level: it is done once, not per request). The pages load them from versioned URLs,
// /static/<version>/css/app.css, where version is a hash of the contents
// of every servable file, so those URLs are cached for a year
// (immutable) and an upgrade that changes any file changes them all.
// Rewriting is generic: each "/static/" in an HTML template, stylesheet
// or script becomes "/static/<version>/", whatever files there are, and
// relative module imports ('./common.js') stay relative, so they resolve
// inside the same version. The unversioned URLs still answer, revalidated
// by ETag (no-cache), as does /widget.js, whose URL is fixed in customers'
// sites. Rendered pages are gzipped per response (they differ per
// request) when the browser takes it.

// staticTypes are the asset types served under /static/ (templates are not).
var staticTypes = map[string]string{
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".webp":        "image/webp",
	".woff2":       "font/woff2",
	".txt":         "text/plain; charset=utf-8",
}

// rewritten are the types whose text gets versioned references.
var rewritten = map[string]bool{".html": true, ".css": true, ".js": true, ".mjs": true, ".json": true, ".webmanifest": true}

// staticAsset is one file as served.
type staticAsset struct {
	data  []byte // references rewritten
	etag  string // of data
	ctype string
	// gz is the gzip of data, made once on first use (so start-up does
	// not pay ~10 ms for files nobody asked for yet), nil when that is
	// not smaller.
	gzOnce sync.Once
	gz     []byte
	gzETag string
}

// gzipped returns the compressed form, or nil when it is not smaller.
func (a *staticAsset) gzipped() ([]byte, string) {
	a.gzOnce.Do(func() {
		if gz := gzipBytes(a.data, gzip.BestCompression); len(gz) < len(a.data) {
			a.gz, a.gzETag = gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		}
	})
	return a.gz, a.gzETag
}

// staticSet is everything read from static/ at start.
type staticSet struct {
	version string
	// assets by their unversioned path, "/static/css/app.css".
	assets map[string]*staticAsset
	// pages are the templates (static/*.html), references rewritten.
	pages fstest.MapFS
}

// immutableCache is the Cache-Control of versioned URLs.
const immutableCache = "public, max-age=31536000, immutable"

var staticFiles = loadStaticSet(staticFS)

// pageFS is static/*.html as the templates are parsed from.
var pageFS fs.FS = staticFiles.pages

func loadStaticSet(fsys fs.FS) *staticSet {
	type file struct {
		name string
		data []byte
	}
	var files []file
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, file{p, data})
		return nil
	})
	if err != nil {
		panic(err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	h := sha256.New()
	for _, f := range files {
		if _, ok := staticTypes[path.Ext(f.name)]; ok || path.Ext(f.name) == ".html" {
			io.WriteString(h, f.name+"\x00"+strconv.Itoa(len(f.data))+"\x00")
			h.Write(f.data)
		}
	}
	set := &staticSet{version: hex.EncodeToString(h.Sum(nil))[:12], assets: map[string]*staticAsset{}, pages: fstest.MapFS{}}
	for _, f := range files {
		ext := path.Ext(f.name)
		data := f.data
		if rewritten[ext] {
			data = bytes.ReplaceAll(data, []byte("/static/"), []byte("/static/"+set.version+"/"))
		}
		if ext == ".html" {
			if path.Dir(f.name) == "static" {
				set.pages[f.name] = &fstest.MapFile{Data: data, Mode: 0o444}
			}
			continue
		}
		ctype, ok := staticTypes[ext]
		if !ok {
			continue
		}
		set.assets["/"+f.name] = &staticAsset{data: data, ctype: ctype, etag: quotedHash(data)}
	}
	return set
}

func quotedHash(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

func gzipBytes(b []byte, level int) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, level)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (listed, or "*", and not with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			for _, param := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); strings.EqualFold(k, "q") && err == nil && q == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// serveAsset writes one asset, gzipped when the browser takes it.
func serveAsset(w http.ResponseWriter, r *http.Request, a *staticAsset, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", cacheControl)
	body, etag := a.data, a.etag
	if gz, gzETag := a.gzipped(); gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			body, etag = gz, gzETag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// staticHandler serves "GET /static/": versioned URLs for a year,
// unversioned ones revalidated, templates and /static/widget.js never.
func (s *Server) staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		cache := "no-cache"
		if rest, ok := strings.CutPrefix(p, "/static/"+staticFiles.version+"/"); ok {
			p, cache = "/static/"+rest, immutableCache
		}
		a, ok := staticFiles.assets[p]
		if !ok || p == "/static/widget.js" {
			s.notFoundPage(w, r)
			return
		}
		serveAsset(w, r, a, cache)
	})
}

// handleWidgetJS handles "GET /widget.js", the script business sites
// embed. Any site may load it; its URL never changes, so it is
// revalidated (ETag) rather than cached for long.
func (s *Server) handleWidgetJS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	serveAsset(w, r, staticFiles.assets["/static/widget.js"], "no-cache")
}

// pageGzip are gzip writers for rendered pages.
var pageGzip = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	return zw
}}

// writePage writes a rendered page's status and body, gzipped when the
// browser takes it. Headers are set by the caller.
func writePage(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) || len(body) < 512 {
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return
	}
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	zw := pageGzip.Get().(*gzip.Writer)
	zw.Reset(w)
	_, _ = zw.Write(body)
	_ = zw.Close()
	pageGzip.Put(zw)
}
