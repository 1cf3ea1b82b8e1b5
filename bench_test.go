package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// benchDB opens a fresh database with one account and the given number
// of rooms (consumers c0, c1, …); for the benchmarks and the
// group-commit tests.
func benchDB(b testing.TB, synchronous string, rooms int) (*DB, *User, []int64) {
	b.Helper()
	db, err := OpenDB(context.Background(), filepath.Join(b.TempDir(), "bench.db"), synchronous)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	u, err := db.CreateUser(context.Background(), "bench", "x", "", "")
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	err = db.inTx(context.Background(), func(tx *sql.Tx) error {
		for i := range rooms {
			r, _, err := ensureRoomTx(context.Background(), tx, u.ID, fmt.Sprintf("c%d", i), "", db.nowMillis())
			if err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db, u, ids
}

// BenchmarkMessageWriter stores messages from 256 concurrent senders
// (as many sockets waiting for their commit) through the writer: with
// group commit, and with one transaction per message, under both
// synchronous settings. Reports messages per second.
func BenchmarkMessageWriter(b *testing.B) {
	for _, syncMode := range []string{"NORMAL", "FULL"} {
		for _, mode := range []struct {
			name     string
			maxBatch int
		}{{"group", defaultMaxBatch}, {"single", 1}} {
			b.Run(syncMode+"/"+mode.name, func(b *testing.B) {
				db, u, rooms := benchDB(b, syncMode, 64)
				w := newGroupCommitter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), mode.maxBatch, nil)
				defer w.Close()
				start := benchSubmit(b, w, u, rooms, func(int64) string { return "a message of ordinary length, say forty-odd characters" })
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
				b.ReportMetric(float64(w.committed.Load())/float64(w.commits.Load()), "msgs/commit")
			})
		}
	}
}

// benchSubmit stores b.N visitor messages through w from 256 concurrent
// senders over rooms, content(i) being the i-th message's text; it returns
// when all are committed, and when it started (after ResetTimer).
func benchSubmit(b *testing.B, w *groupCommitter, u *User, rooms []int64, content func(i int64) string) time.Time {
	const senders = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := &commitOp{done: make(chan struct{}, 1)}
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				*op = commitOp{kind: opMessage, userID: u.ID, username: u.Username, consumer: "c",
					roomID: rooms[s%len(rooms)], author: "c", content: content(i),
					fromVisitor: true, done: op.done}
				if err := w.submit(op); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return start
}

// BenchmarkBroadcast1000 sends one message into a room watched by 1,000
// sockets and waits until every socket has read it: store + commit +
// encode once + 1,000 queue sends + 1,000 socket writes and reads (client
// side included, on the same 2 cores).
func BenchmarkBroadcast1000(b *testing.B) {
	ts := newTestServer(b, chatConfig, func(c *Config) { c.PingInterval = time.Hour })
	ts.client().signup("acme")
	const sockets = 1000
	var remaining atomic.Int64
	done := make(chan struct{}, 1)
	clients := make([]*wsClient, sockets)
	for i := range clients {
		c := ts.dialWS("/ws/chat/acme/room", nil)
		clients[i] = c
		go func() {
			for {
				if _, _, err := c.conn.Read(context.Background()); err != nil {
					return
				}
				if remaining.Add(-1) == 0 {
					done <- struct{}{}
				}
			}
		}()
	}
	waitFor(b, "all sockets to register", func() bool { return ts.Server.hub.Count() == sockets })
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		remaining.Store(sockets)
		clients[i%sockets].send(map[string]any{"command": "new_message", "message": map[string]any{"content": "hello, everyone"}})
		<-done
	}
	b.ReportMetric(float64(b.N*sockets)/time.Since(start).Seconds(), "deliveries/s")
	b.StopTimer()
	for _, c := range clients {
		c.conn.CloseNow()
	}
}

// BenchmarkFetchRooms builds the largest fetch_rooms answer (a page of up
// to maxPage rooms; fewer when the page is cut before a run of rooms
// sharing a last_activity) from an account of 1,000 rooms with 50
// messages each (the query, the scan and the JSON).
func BenchmarkFetchRooms(b *testing.B) {
	db, u, rooms := benchDB(b, "NORMAL", 1000)
	err := db.inTx(context.Background(), func(tx *sql.Tx) error {
		stmt, err := tx.Prepare("INSERT INTO messages (room_id, author, content, created) VALUES (?, ?, ?, ?)")
		if err != nil {
			return err
		}
		for _, id := range rooms {
			for j := range 60 {
				if _, err := stmt.Exec(id, "c", fmt.Sprintf("message %d, long enough to look like a real one", j), db.nowMillis()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	h := NewHub()
	b.ResetTimer()
	for range b.N {
		rows, msgs, _, err := db.RoomsWithMessages(context.Background(), u.ID, u.Username, 0, maxPage, roomFilter{})
		if err != nil {
			b.Fatal(err)
		}
		online := h.VisitorsOnline(make([]int64, len(rows)))
		frame := []byte(`{"command":"rooms","rooms":[`)
		n := 0
		for i, r := range rows {
			if i > 0 {
				frame = append(frame, ',')
			}
			frame = appendRoomJSON(frame, r, msgs[r.ID], online[i])
			n += bytes.Count(msgs[r.ID], []byte(`{"id":`))
		}
		frame = append(frame, `],"has_more":true}`...)
		if len(rows) == 0 || n != 50*len(rows) {
			b.Fatalf("%d rooms, %d messages; want 50 each", len(rows), n)
		}
		b.SetBytes(int64(len(frame)))
	}
}

// BenchmarkChatThroughput is the whole path over real sockets: 100
// visitors send at once (each socket waits for its own commits, as the
// server reads one frame at a time per socket), every message is stored
// with group commit and delivered to its visitor and to one admin inbox
// socket. Reports messages stored and delivered per second, for both
// synchronous settings. Clients run on the same 2 cores as the server.
func BenchmarkChatThroughput(b *testing.B) {
	for _, syncMode := range []string{"NORMAL", "FULL"} {
		b.Run(syncMode, func(b *testing.B) {
			ts := newTestServer(b, chatConfig, func(c *Config) {
				c.Synchronous = syncMode
				c.PingInterval = time.Hour
				c.AdminSendQueue = 1 << 20
				c.SendQueue = 1 << 12
			})
			admin := ts.client().signup("acme")
			const visitors = 100
			var remaining atomic.Int64
			done := make(chan struct{}, 1)
			count := func(c *wsClient) {
				for {
					if _, _, err := c.conn.Read(context.Background()); err != nil {
						return
					}
					if remaining.Add(-1) == 0 {
						done <- struct{}{}
					}
				}
			}
			inbox := ts.dialWS("/ws/room/acme", admin)
			vs := make([]*wsClient, visitors)
			for i := range vs {
				vs[i] = ts.dialWS(fmt.Sprintf("/ws/chat/acme/v%d", i), nil)
			}
			go count(inbox)
			for _, v := range vs {
				go count(v)
			}
			frame := []byte(`{"command":"new_message","message":{"content":"a message of ordinary length, say forty-odd characters"}}`)
			remaining.Store(int64(2 * b.N))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, v := range vs {
				n := b.N / visitors
				if i < b.N%visitors {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						if err := v.conn.Write(context.Background(), websocket.MessageText, frame); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if b.N > 0 {
				<-done
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64(ts.Server.committer.committed.Load())/float64(ts.Server.committer.commits.Load()), "msgs/commit")
			b.StopTimer()
		})
	}
}

// BenchmarkSocketMemory opens 2,000 idle visitor chat sockets and reports
// heap plus goroutine stacks per socket pair: the server's side and the
// test client's side together, so the server's share is roughly half.
func BenchmarkSocketMemory(b *testing.B) {
	ts := newTestServer(b, chatConfig, func(c *Config) { c.PingInterval = time.Hour })
	ts.client().signup("acme")
	const sockets = 2000
	inuse := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	before := inuse()
	for i := range sockets {
		c := ts.dialWS(fmt.Sprintf("/ws/chat/acme/v%d", i%500), nil)
		go c.conn.Read(context.Background()) // a reading client, as a browser is
	}
	b.ReportMetric(float64(inuse()-before)/sockets, "bytes/socket-pair")
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.Logf("goroutines %d, stack %d KiB, heap %d KiB", runtime.NumGoroutine(), m.StackInuse>>10, m.HeapInuse>>10)
	for range b.N {
	}
}
