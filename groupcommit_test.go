package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
)

// TestMessageWriterGroupCommit: requests that queue while a commit is in
// progress are committed together in one transaction and published in
// commit (id) order, each only after its commit.
func TestMessageWriterGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, u, rooms := benchDB(t, "FULL", 1)
	room := &roomRow{ID: rooms[0], Consumer: "c0"}

	var mu sync.Mutex
	var published []int64
	w := newGroupCommitter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, func(op *commitOp) {
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
		op := &commitOp{kind: opMessage, userID: u.ID, username: u.Username, consumer: room.Consumer, roomID: room.ID,
			author: room.Consumer, content: fmt.Sprint("m", i), fromVisitor: true}
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
		var agent *User
		if tc.admin {
			agent = u
		}
		if got := cap(s.newClient(nil, tc.kind, u, agent, "").send); got != tc.want {
			t.Errorf("kind %d admin %v: queue %d, want %d", tc.kind, tc.admin, got, tc.want)
		}
	}
}

// TestMessageWriterFailedBatch: when one request's statement ends the
// whole transaction (SQLite rolls back on some errors, here a trigger's
// RAISE(ROLLBACK)), the requests of the batch that follow must not be
// stored behind their senders' backs: every request either is stored and
// published, or fails and is not stored.
func TestMessageWriterFailedBatch(t *testing.T) {
	ctx := context.Background()
	db, u, rooms := benchDB(t, "NORMAL", 1)
	room := &roomRow{ID: rooms[0], Consumer: "c0"}
	if _, err := db.writer.Exec(`CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.content = 'boom'
		BEGIN SELECT RAISE(ROLLBACK, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	published := map[string]bool{}
	w := newGroupCommitter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), 0, func(op *commitOp) {
		mu.Lock()
		published[op.content] = true
		mu.Unlock()
	})
	defer w.Close()

	hold, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	contents := []string{"first", "before", "boom", "after"}
	errs := make([]error, len(contents))
	var wg sync.WaitGroup
	submit := func(i int) {
		defer wg.Done()
		errs[i] = w.submit(&commitOp{kind: opMessage, userID: u.ID, username: u.Username, consumer: room.Consumer, roomID: room.ID,
			author: room.Consumer, content: contents[i], fromVisitor: true})
	}
	wg.Add(1)
	go submit(0)
	waitFor(t, "the first batch to start", func() bool { return w.commits.Load() == 1 })
	for i := 1; i < len(contents); i++ {
		wg.Add(1)
		go submit(i)
		waitFor(t, "the request to queue", func() bool { return len(w.ops) == i })
	}
	hold.Rollback()
	wg.Wait()
	if errs[2] == nil {
		t.Fatal("the failing request succeeded")
	}
	for i, c := range contents {
		var n int
		db.reader.QueryRow("SELECT count(*) FROM messages WHERE content = ?", c).Scan(&n)
		if stored := n == 1; stored != (errs[i] == nil) || stored != published[c] {
			t.Errorf("%q: stored %v, error %v, published %v", c, stored, errs[i], published[c])
		}
	}
}
