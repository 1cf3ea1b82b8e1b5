package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
)

// TestMessageWriterGroupCommit: requests that queue while a commit is in
// progress are committed together in one transaction and published in
// commit (id) order, each only after its commit.
func TestMessageWriterGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, err := OpenDB(ctx, filepath.Join(t.TempDir(), "w.db"), "FULL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateUser(ctx, "acme", "x", "", "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := newChatStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var room *roomRow
	db.inTx(ctx, func(tx *sql.Tx) error {
		room, _, err = ensureRoomTx(ctx, tx, u.ID, "v", "", db.nowMillis())
		return err
	})

	var mu sync.Mutex
	var published []int64
	w := newMsgWriter(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, func(op *writeOp) {
		// Published only once committed: a reader sees the row.
		var n int
		db.reader.QueryRow("SELECT count(*) FROM messages WHERE id = ?", op.msg.ID).Scan(&n)
		if n != 1 {
			t.Errorf("message %d published before its commit", op.msg.ID)
		}
		mu.Lock()
		published = append(published, op.msg.ID)
		mu.Unlock()
	})
	defer w.Close()

	// Hold the one writer connection, so the first batch waits in BEGIN
	// while the other requests queue up behind it.
	hold, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	submit := func(i int) {
		defer wg.Done()
		op := &writeOp{kind: opMessage, userID: u.ID, username: "acme", consumer: "v", roomID: room.ID,
			author: "v", content: fmt.Sprint("m", i), fromVisitor: true}
		if err := w.submit(op); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go submit(0)
	waitFor(t, "the first batch to start", func() bool { return w.commits.Load() == 1 })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go submit(i)
	}
	waitFor(t, "the requests to queue", func() bool { return len(w.ops) == n-1 })
	hold.Rollback()
	wg.Wait()
	if got := w.commits.Load(); got != 2 {
		t.Fatalf("%d commits for %d messages, want 2 (one waiting, then all the rest together)", got, n)
	}
	if len(published) != n {
		t.Fatalf("published %d, want %d", len(published), n)
	}
	for i := 1; i < len(published); i++ {
		if published[i] <= published[i-1] {
			t.Fatalf("published out of id order: %v", published)
		}
	}
	var unread int
	db.reader.QueryRow("SELECT unread FROM rooms WHERE id = ?", room.ID).Scan(&unread)
	if unread != n {
		t.Fatalf("unread = %d, want %d", unread, n)
	}
}

// TestAdminRoomSocketQueue: admin room sockets get the larger queue.
func TestAdminRoomSocketQueue(t *testing.T) {
	s := &Server{cfg: Config{SendQueue: 3, AdminSendQueue: 7}}
	u := &User{ID: 1, Username: "acme"}
	for _, tc := range []struct {
		kind  socketKind
		admin bool
		want  int
	}{{roomSocket, true, 7}, {roomSocket, false, 3}, {chatSocket, true, 3}, {chatSocket, false, 3}} {
		if got := cap(s.newClient(nil, tc.kind, tc.admin, u).send); got != tc.want {
			t.Errorf("kind %d admin %v: queue %d, want %d", tc.kind, tc.admin, got, tc.want)
		}
	}
}
