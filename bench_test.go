package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchDB opens a fresh database with one account and one room per
// consumer given.
func benchDB(b *testing.B, synchronous string, rooms int) (*DB, *chatStore, *User, []int64) {
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
	st, err := newChatStore(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
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
	return db, st, u, ids
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
				_, st, u, rooms := benchDB(b, syncMode, 64)
				w := newMsgWriter(st, slog.New(slog.NewTextHandler(io.Discard, nil)), mode.maxBatch, nil)
				defer w.Close()
				const senders = 256
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for s := range senders {
					wg.Add(1)
					go func() {
						defer wg.Done()
						op := &writeOp{done: make(chan struct{}, 1)}
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							*op = writeOp{kind: opMessage, userID: u.ID, username: u.Username, consumer: "c",
								roomID: rooms[s%len(rooms)], author: "c", content: "a message of ordinary length, say forty-odd characters",
								fromVisitor: true, done: op.done}
							if err := w.submit(op); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkBroadcast1000 sends one message into a room watched by 1,000
// sockets and waits until every socket has read it: store + commit +
// encode once + 1,000 queue sends + 1,000 socket writes and reads (client
// side included, on the same 2 cores).
func BenchmarkBroadcast1000(b *testing.B) {
	env := chatTestServer(b, func(c *Config) { c.PingInterval = time.Hour })
	env.chatSignup("acme")
	const sockets = 1000
	var remaining atomic.Int64
	done := make(chan struct{}, 1)
	clients := make([]*wsClient, sockets)
	for i := range clients {
		c := env.dialWS("/ws/chat/acme/room", nil)
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
	waitFor(b, "all sockets to register", func() bool { return env.srv.hub.Count() == sockets })
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

// BenchmarkFetchRooms builds the fetch_rooms answer for 1,000 rooms with
// 50 messages each (the query, the scan and the JSON).
func BenchmarkFetchRooms(b *testing.B) {
	db, st, u, rooms := benchDB(b, "NORMAL", 1000)
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
		rows, msgs, err := st.RoomsWithMessages(context.Background(), u.ID, u.Username)
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		online := h.VisitorsOnline(ids)
		out := make([]Room, len(rows))
		n := 0
		for i, r := range rows {
			out[i] = r.json(msgs[r.ID], online[i])
			n += len(out[i].Messages)
		}
		if n != 50*1000 {
			b.Fatalf("%d messages, want 50,000", n)
		}
		frame := encodeFrame(roomsFrame{Command: "rooms", Rooms: out})
		b.SetBytes(int64(len(frame)))
	}
}
