package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallFilesystem mounts an 8 MiB tmpfs for the test and unmounts it at
// the end; it skips the test unless it runs as root (CI does).
func smallFilesystem(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (mount -t tmpfs -o size=8m); CI runs as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes zeros into a file until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			break
		}
	}
	// The last partial blocks too.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
}

// TestDiskFullRecovers: on a full disk, writes fail and /healthz says so
// (503 with the reason); once space is freed, /healthz is 200 again,
// messages are stored, and the WAL that grew meanwhile is given back
// (issue 12, finding 6: /healthz said 200 while every write failed, and
// the freed space was eaten by a WAL that was never truncated).
func TestDiskFullRecovers(t *testing.T) {
	dir := smallFilesystem(t)
	ts := newTestServerAt(t, filepath.Join(dir, "livechat.db"), chatConfig)
	ts.client().signup("acme")
	anon := ts.client()
	if r := anon.must(http.StatusOK, "GET", "/healthz", nil); string(r.Body) != "ok" {
		t.Fatalf("healthz: %q", r.Body)
	}
	v := ts.dialWS("/ws/chat/acme/v1", nil)
	v.say("before the disk fills")

	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)

	// Messages now fail (the WAL may take a few more frames first).
	long := strings.Repeat("x", 4000)
	failed := false
	for i := 0; i < 200 && !failed; i++ {
		v.send(map[string]any{"command": "new_message", "message": map[string]any{"content": long}})
		f := v.next()
		switch f.str("command") {
		case "new_message":
		case "error":
			if f.str("error") != codeInternal {
				t.Fatalf("message on a full disk: %v", f)
			}
			failed = true
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
	if !failed {
		t.Fatal("200 messages of 4,000 characters were stored on a full 8 MiB disk")
	}
	var last *response
	waitFor(t, "/healthz to report the full disk", func() bool {
		last = anon.do("GET", "/healthz", nil)
		return last.Status == http.StatusServiceUnavailable
	})
	if body := string(last.Body); !strings.Contains(body, "disk is full") {
		t.Errorf("healthz on a full disk: %q, want the reason", body)
	}
	if ct := last.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("healthz Content-Type %q", ct)
	}

	// Free the space: the server recovers by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := anon.do("GET", "/healthz", nil)
		if r.Status == http.StatusOK && string(r.Body) == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz after freeing space: %d %q", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := v.say("after the space came back")
	if m.str("content") != "after the space came back" {
		t.Fatalf("message after recovery: %v", m)
	}
	// Once the writer is idle the WAL is emptied, not kept at its
	// largest.
	deadline = time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(ts.Path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes 10 s after the last write", fi.Size())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And what was stored before and after is all there.
	msgs := ts.DB
	page, _, err := msgs.MessagesPage(t.Context(), v1RoomID(t, ts), "acme v1", 0, 200, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) < 2 || page[0].Content != "before the disk fills" || page[len(page)-1].Content != "after the space came back" {
		t.Errorf("stored messages: first %q, last %q (%d)", page[0].Content, page[len(page)-1].Content, len(page))
	}
}

// v1RoomID is the id of acme's room with v1.
func v1RoomID(t *testing.T, ts *testServer) int64 {
	t.Helper()
	u, err := ts.DB.UserByName(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ts.DB.RoomByConsumer(t.Context(), u.ID, "v1")
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}
