package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The limits on what one client may cost through uploads and request
// bodies (issue 12, findings 2 and 3).

// stalledRequest opens a raw connection, sends a request's headers
// declaring a body of length bytes and then only the first bytes of body,
// and leaves the rest unsent: a client that went silent.
func (ts *testServer) stalledRequest(method, path string, header http.Header, body []byte, length int) net.Conn {
	ts.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { conn.Close() })
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, strings.TrimPrefix(ts.URL, "http://"), length)
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		ts.t.Fatal(err)
	}
	return conn
}

// stalledUpload starts an upload of a file of size bytes to room and
// sends only sent bytes of the file.
func (ts *testServer) stalledUpload(room string, size, sent int, header http.Header) net.Conn {
	ts.t.Helper()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.WriteField("room", room)
	mw.CreateFormFile("file", "big.bin")
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	h := http.Header{"Content-Type": {mw.FormDataContentType()}}
	for k, v := range header {
		h[k] = v
	}
	body := append(head.Bytes(), bytes.Repeat([]byte("x"), sent)...)
	return ts.stalledRequest("POST", uploadPath, h, body, head.Len()+size+len(tail))
}

// readResponse reads the answer on a raw connection (10 s at most: a
// server that never answers fails the test rather than hanging it).
func readResponse(t *testing.T, conn net.Conn) (*http.Response, map[string]any) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("answer %d %q is not JSON", resp.StatusCode, b)
	}
	return resp, body
}

// spooled is the number and total size of upload spool files beside the
// database.
func (ts *testServer) spooled() (files int, bytes int64) {
	entries, _ := os.ReadDir(filepath.Dir(ts.Path))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), spoolPrefix(ts.Path)) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			files++
			bytes += fi.Size()
		}
	}
	return files, bytes
}

// TestSpoolLeftoversRemoved: spool files of a crashed process are removed
// when the server starts; other files beside the database, another
// database's spool among them, are left alone.
func TestSpoolLeftoversRemoved(t *testing.T) {
	ts := newTestServer(t)
	dir := filepath.Dir(ts.Path)
	ts.Close()
	leftover := filepath.Join(dir, spoolPrefix(ts.Path)+"123")
	other := filepath.Join(dir, spoolPrefix(filepath.Join(dir, "other.db"))+"456")
	for _, f := range []string{leftover, other} {
		if err := os.WriteFile(f, []byte("partial upload"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ts.start()
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover spool file still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("another database's spool file removed: %v", err)
	}
}

// mustUpload uploads and checks the status; a 429 must have Retry-After.
func (ts *testServer) mustUpload(want int, room string, data []byte, header ...string) map[string]any {
	ts.t.Helper()
	body, ctype := multipartBody(ts.t, "file", "f.txt", data, "room", room)
	c := ts.client()
	r := c.do("POST", uploadPath, body, append([]string{"Content-Type", ctype}, header...)...)
	if r.Status != want {
		ts.t.Fatalf("upload: %d %s, want %d", r.Status, r.Body, want)
	}
	if want == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
			ts.t.Fatalf("429 with Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	if want >= 400 && r.Detail() == "" {
		ts.t.Fatalf("error without detail: %s", r.Body)
	}
	return r.JSON
}

// countFiles is how many files are stored.
func (ts *testServer) countFiles() int {
	ts.t.Helper()
	var n int
	if err := ts.DB.reader.QueryRow("SELECT count(*) FROM files").Scan(&n); err != nil {
		ts.t.Fatal(err)
	}
	return n
}

// TestUploadsPerAddress (finding 3): one client stored 63 × 5 MiB in
// 1.2 s. Now an address gets UploadsPerAddress uploads per window, then
// 429 with Retry-After; another address (behind a trusted proxy) has its
// own count; the window slides.
func TestUploadsPerAddress(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.UploadsPerAddress = 2
		c.UploadsWindow = time.Hour
		c.TrustProxy = true
	})
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/v", nil)
	ts.mustUpload(http.StatusCreated, "acme v", []byte("one"))
	ts.mustUpload(http.StatusCreated, "acme v", []byte("two"))
	ts.mustUpload(http.StatusTooManyRequests, "acme v", []byte("three"))
	ts.mustUpload(http.StatusCreated, "acme v", []byte("elsewhere"), "X-Forwarded-For", "203.0.113.5")
	if n := ts.countFiles(); n != 3 {
		t.Fatalf("%d files stored, want 3", n)
	}
	ts.clock.Advance(time.Hour + time.Second)
	ts.mustUpload(http.StatusCreated, "acme v", []byte("later"))
}

// TestUploadsInFlight: at most UploadsInFlight uploads per address at
// once; one more gets 429 at once, and a finished (here: abandoned)
// upload frees its slot.
func TestUploadsInFlight(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.UploadsInFlight = 2 })
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/v", nil)
	a := ts.stalledUpload("acme v", 1<<20, 1000, nil)
	ts.stalledUpload("acme v", 1<<20, 1000, nil)
	waitFor(t, "two uploads in flight", func() bool { n, _ := ts.spooled(); return n == 2 })
	ts.mustUpload(http.StatusTooManyRequests, "acme v", []byte("a third"))
	a.Close()
	waitFor(t, "the abandoned upload's slot", func() bool {
		body, ctype := multipartBody(t, "file", "f.txt", []byte("now"), "room", "acme v")
		return ts.client().do("POST", uploadPath, body, "Content-Type", ctype).Status == http.StatusCreated
	})
}

// TestBodyDeadlines (finding 2): bodies had no read deadline; a client
// that sent part of a body and went silent held its connection and memory
// for minutes. Now a body that has not arrived by its deadline gets 408
// with a JSON detail, the spooled part is deleted, and nothing is stored.
func TestBodyDeadlines(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) {
		c.UploadTimeout = 300 * time.Millisecond
		c.BodyTimeout = 300 * time.Millisecond
	})
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/v", nil)

	up := ts.stalledUpload("acme v", 1<<20, 100<<10, nil)
	if resp, body := readResponse(t, up); resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body["detail"].(string), "in time") {
		t.Fatalf("stalled upload: %d %v", resp.StatusCode, body)
	}
	waitFor(t, "the spool file to go", func() bool { n, _ := ts.spooled(); return n == 0 })
	if n := ts.countFiles(); n != 0 {
		t.Fatalf("%d files stored", n)
	}

	api := ts.stalledRequest("POST", "/accounts/api/signup", http.Header{"Content-Type": {"application/json"}}, []byte(`{"username":"slow","pass`), 200)
	if resp, body := readResponse(t, api); resp.StatusCode != http.StatusRequestTimeout || body["detail"] == nil {
		t.Fatalf("stalled JSON body: %d %v", resp.StatusCode, body)
	}
	ts.mustUpload(http.StatusCreated, "acme v", []byte("on time"))
}

// TestBodyDeadlineLiftedAfterBody: a body that arrived in time is served
// however long the handler takes afterwards (here a slow bcrypt after a
// form, which is read to its end): the deadline bounds the body, not the
// handler.
func TestBodyDeadlineLiftedAfterBody(t *testing.T) {
	const deadline = 50 * time.Millisecond
	ts := newTestServer(t, func(c *Config) {
		c.BodyTimeout = deadline
		c.BcryptCost = 10 // tens of milliseconds, more under -race
	})
	start := time.Now()
	ts.client().must(http.StatusCreated, "POST", "/accounts/api/signup", "username=patient&password=correct+horse")
	if time.Since(start) < deadline {
		t.Skip("bcrypt was faster than the deadline; nothing to show")
	}
}

// TestStalledUploadsHoldNoMemory (finding 2): uploads were read whole into
// memory, so 60 clients that each sent ~5 MiB and went silent took the
// server from 20 to 360 MB. Now the file part is streamed to a spool file
// through a fixed buffer: with clients from 12 addresses each stalled
// after 4 MiB, the server's live heap grows by far less than the 48 MiB
// they sent. (The test and the server share a process, so the heap is
// measured after a GC, with a generous bound.)
func TestStalledUploadsHoldNoMemory(t *testing.T) {
	const clients, sent = 12, 4 << 20
	ts := newTestServer(t, chatConfig, func(c *Config) { c.TrustProxy = true })
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/v", nil)
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	for i := range clients {
		ts.stalledUpload("acme v", 5<<20, sent, http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i+1)}})
	}
	// Wait until the server has taken in what was sent: into spool files,
	// or (before streaming) into memory.
	var grown int64
	waitFor(t, "the server to receive the uploads", func() bool {
		_, spooled := ts.spooled()
		grown = heap() - before
		return spooled >= clients*sent || grown >= clients*sent*3/4
	})
	grown = heap() - before
	if limit := int64(clients * sent / 4); grown > limit {
		t.Fatalf("the live heap grew by %d MiB with %d stalled uploads of 4 MiB, want under %d MiB", grown>>20, clients, limit>>20)
	}
}

// TestUploadStorageQuota (finding 3): a business stores at most
// MaxStorage bytes of files; an upload past it gets 507 with a detail
// and stores nothing; deleting a conversation frees its files' share.
func TestUploadStorageQuota(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.MaxStorage = 10000 })
	admin := ts.client().signup("acme")
	ts.client().signup("other")
	ts.dialWS("/ws/chat/acme/v1", nil)
	ts.dialWS("/ws/chat/other/v1", nil)
	ts.mustUpload(http.StatusCreated, "acme v1", bytes.Repeat([]byte("a"), 6000))
	body := ts.mustUpload(http.StatusInsufficientStorage, "acme v1", bytes.Repeat([]byte("b"), 6000))
	if d := body["detail"].(string); !strings.Contains(d, "delete old conversations") {
		t.Fatalf("detail %q", d)
	}
	if n := ts.countFiles(); n != 1 {
		t.Fatalf("%d files, want 1", n)
	}
	// The quota is per business.
	ts.mustUpload(http.StatusCreated, "other v1", bytes.Repeat([]byte("c"), 6000))
	admin.must(http.StatusNoContent, "DELETE", "/chatbot/api/rooms/v1", nil)
	ts.dialWS("/ws/chat/acme/v2", nil)
	ts.mustUpload(http.StatusCreated, "acme v2", bytes.Repeat([]byte("d"), 6000))
}

// TestUploadStorageQuotaInCommit: the quota holds inside the group
// commit's transaction too, where concurrent uploads cannot both pass a
// check made before either was stored.
func TestUploadStorageQuotaInCommit(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
	ts.dialWS("/ws/chat/acme/v", nil)
	u, err := ts.DB.UserByName(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	room, err := ts.DB.RoomByConsumer(t.Context(), u.ID, "v")
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]*commitOp, 3)
	errs := make(chan error, len(ops))
	for i := range ops {
		ops[i] = &commitOp{kind: opMessage, userID: u.ID, username: "acme", consumer: "v", roomID: room.ID,
			author: "v", content: "f", typ: "text/plain", maxStorage: 10000,
			file: &storedFile{Token: newFileToken(), Name: "f", Mime: "text/plain", Data: make([]byte, 4000)}}
		go func(op *commitOp) { errs <- ts.Server.committer.submit(op) }(ops[i])
	}
	full := 0
	for range ops {
		switch err := <-errs; {
		case err == errStorageFull:
			full++
		case err != nil:
			t.Fatal(err)
		}
	}
	if full != 1 || ts.countFiles() != 2 {
		t.Fatalf("%d refused, %d stored; want 1 and 2", full, ts.countFiles())
	}
}

// TestUploadFreeDiskFloor (finding 3): below MinFreeDisk free on the
// database's filesystem uploads get 507 with a detail (here the floor is
// set above the real free space) and messages still work.
func TestUploadFreeDiskFloor(t *testing.T) {
	free, ok, err := freeDiskBytes(t.TempDir())
	if err != nil || !ok || free <= 0 {
		t.Skipf("free disk space unknown here (%d, %v, %v)", free, ok, err)
	}
	ts := newTestServer(t, chatConfig, func(c *Config) { c.MinFreeDisk = free + 1<<40 })
	ts.client().signup("acme")
	v := ts.dialWS("/ws/chat/acme/v", nil)
	body := ts.mustUpload(http.StatusInsufficientStorage, "acme v", []byte("file"))
	if d := body["detail"].(string); !strings.Contains(d, "disk space") {
		t.Fatalf("detail %q", d)
	}
	v.say("messages still work")
	if n := ts.countFiles(); n != 0 {
		t.Fatalf("%d files stored", n)
	}
}
