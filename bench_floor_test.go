package main

// Floor micro-benchmarks: what the hardware and the libraries can do
// without livechat's logic, so that each figure in docs/PERFORMANCE.md
// reads as a ratio to its limit. They only run with -bench:
//
//	go test -run '^$' -bench Floor -benchtime 3s .

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// floorOpenDB opens a fresh database with livechat's schema and the
// server's writer pragmas (WAL, immediate transactions), with rooms rooms.
func floorOpenDB(b *testing.B, sync string, cacheKiB, rooms int) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "floor.db")
	dsn := fmt.Sprintf("file:%s?_busy_timeout=10000&_foreign_keys=on&_journal_mode=WAL&_synchronous=%s&_txlock=immediate&_cache_size=-%d", path, sync, cacheKiB)
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schemaSQL); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO users (id, username, password_hash, created) VALUES (1, 'floor', 'x', 0)`); err != nil {
		b.Fatal(err)
	}
	for r := 1; r <= rooms; r++ {
		if _, err := db.Exec(`INSERT INTO rooms (id, user_id, consumer, created, last_activity) VALUES (?, 1, ?, 0, 0)`, r, fmt.Sprintf("consumer-%d", r)); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkFloorSQLiteGroupCommit inserts messages (with a client_id, so
// both indexes are maintained) batch rows per transaction, spread round
// robin over rooms rooms; with room it also updates the room's last
// message, activity and unread count per row, as a chat server must.
// Interleaving many rooms is what a busy server does, and it is what costs:
// every row lands on a different leaf page of both indexes, so each commit
// writes about two WAL pages (8 KiB) per row. Run with a fixed row count so
// the cases compare on the same database size:
//
//	go test -run '^$' -bench FloorSQLite -benchtime 200000x .
func BenchmarkFloorSQLiteGroupCommit(b *testing.B) {
	type tc struct {
		sync         string
		rooms, batch int
		room         bool
		cacheKiB     int
		walPages     int // wal_autocheckpoint; 0 = SQLite default 1000
	}
	var cases []tc
	for _, batch := range []int{1, 16, 128, 1024} {
		cases = append(cases, tc{"NORMAL", 1, batch, true, 2000, 0}, tc{"NORMAL", 1000, batch, true, 2000, 0})
	}
	cases = append(cases,
		tc{"NORMAL", 1000, 128, false, 2000, 0},
		tc{"NORMAL", 1000, 128, true, 65536, 0},
		tc{"NORMAL", 1000, 1024, true, 65536, 0},
		tc{"NORMAL", 1000, 128, true, 65536, 20000},
		tc{"NORMAL", 1000, 1024, true, 65536, 20000},
		tc{"FULL", 1, 128, true, 2000, 0},
		tc{"FULL", 1000, 128, true, 2000, 0},
	)
	for _, c := range cases {
		b.Run(fmt.Sprintf("sync=%s/rooms=%d/batch=%d/room=%v/cache=%dKiB/wal=%d", c.sync, c.rooms, c.batch, c.room, c.cacheKiB, c.walPages), func(b *testing.B) {
			db := floorOpenDB(b, c.sync, c.cacheKiB, c.rooms)
			if c.walPages > 0 {
				// One connection (MaxOpenConns 1), so this reaches it.
				if _, err := db.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", c.walPages)); err != nil {
					b.Fatal(err)
				}
			}
			ins, err := db.Prepare(`INSERT INTO messages (room_id, author, content, type, file, client_id, created) VALUES (?, ?, ?, 'text', '', ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			upd, err := db.Prepare(`UPDATE rooms SET last_message_id = ?, last_activity = ?, unread = unread + 1 WHERE id = ?`)
			if err != nil {
				b.Fatal(err)
			}
			content := strings.Repeat("x", 40)
			b.ResetTimer()
			for i := 0; i < b.N; {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				ti, tu := tx.Stmt(ins), tx.Stmt(upd)
				for j := 0; j < c.batch && i < b.N; j, i = j+1, i+1 {
					room := 1 + i%c.rooms
					now := time.Now().UnixMilli()
					res, err := ti.Exec(room, "visitor", content, "c"+strconv.Itoa(i), now)
					if err != nil {
						b.Fatal(err)
					}
					if c.room {
						id, _ := res.LastInsertId()
						if _, err := tu.Exec(id, now, room); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// floorEchoServer is an nhooyr websocket server that echoes every frame.
func floorEchoServer(b *testing.B) string {
	b.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	}))
	b.Cleanup(s.Close)
	return "ws" + strings.TrimPrefix(s.URL, "http")
}

// floorFrame is about the size of a new_message frame.
var floorFrame = []byte(`{"command":"new_message","message":{"id":123456,"author":"4b1c1b7e-0c5e-4d2c-9a55-1f0c8a7f0e11","content":"load L1.2.123456789........","type":"text","file":"","room":"loadadmin 4b1c1b7e-0c5e-4d2c-9a55-1f0c8a7f0e11","created":"2026-11-24T21:40:00.123Z","client_id":"L1.2.123456789"}}`)

// BenchmarkFloorWebsocketEcho is one client's round trip over loopback
// (ns/op is the round trip), and with many clients at once the frames per
// second two cores can move through nhooyr in both directions.
func BenchmarkFloorWebsocketEcho(b *testing.B) {
	for _, clients := range []int{1, 64, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			u := floorEchoServer(b)
			ctx := context.Background()
			conns := make([]*websocket.Conn, clients)
			for i := range conns {
				c, _, err := websocket.Dial(ctx, u, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer c.CloseNow()
				conns[i] = c
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + clients - 1) / clients
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if err := c.Write(ctx, websocket.MessageText, floorFrame); err != nil {
							b.Error(err)
							return
						}
						if _, _, err := c.Read(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*clients)/b.Elapsed().Seconds(), "echoes/s")
		})
	}
}

// BenchmarkFloorIdleSocket measures what an idle server-side nhooyr socket
// costs in a process: the accepted connection, a goroutine blocked in
// Read and a writer goroutine waiting on a 64-frame queue, as a chat
// server keeps per socket. The client side is a raw TCP connection that
// did the handshake by hand, so it adds almost nothing to the figure.
// Reported per socket: Go memory obtained from the OS and RSS. Run it with
// -benchtime 1x: later iterations reuse memory the first one obtained.
func BenchmarkFloorIdleSocket(b *testing.B) {
	const n = 2000
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		var accepted []*websocket.Conn
		stop := make(chan struct{})
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
			queue := make(chan []byte, 64)
			go func() {
				for {
					select {
					case m := <-queue:
						c.Write(context.Background(), websocket.MessageText, m)
					case <-stop:
						return
					}
				}
			}()
			c.Read(context.Background())
		}))
		addr := strings.TrimPrefix(s.URL, "http://")
		runtime.GC()
		ms0, rss0 := floorMem()
		var raw []net.Conn
		for j := 0; j < n; j++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				b.Fatalf("handshake: %v %v", resp, err)
			}
			raw = append(raw, c)
		}
		for {
			mu.Lock()
			k := len(accepted)
			mu.Unlock()
			if k == n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		ms1, rss1 := floorMem()
		b.ReportMetric(float64(ms1-ms0)/n/1024, "goKiB/socket")
		b.ReportMetric(float64(rss1-rss0)/n/1024, "rssKiB/socket")
		close(stop)
		for _, c := range raw {
			c.Close()
		}
		for _, c := range accepted {
			c.CloseNow()
		}
		s.Close()
	}
}

// floorMem returns Go's memory in use from the OS (Sys minus released) and
// the process RSS, in bytes.
func floorMem() (goBytes, rss int64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	goBytes = int64(m.Sys - m.HeapReleased)
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return goBytes, rss
}

// BenchmarkFloorRelay is the chat's frame pattern with nothing else: 1000
// clients each send a frame and wait for it to come back (closed loop, as
// loadtest's P2), and the server also forwards every frame to one admin
// connection through a queue and a writer goroutine, as the hub does. No
// JSON, no SQLite: per message one client write, one server read, two
// server writes and two client reads, i.e. the websocket floor of P2 on
// this machine, with the load generator in the same process.
func BenchmarkFloorRelay(b *testing.B) {
	const clients = 1000
	adminQ := make(chan []byte, 1<<16)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		if r.URL.Path == "/admin" {
			for m := range adminQ {
				if err := c.Write(ctx, websocket.MessageText, m); err != nil {
					return
				}
			}
			return
		}
		// The visitor's own writer goroutine and queue, as in the server.
		q := make(chan []byte, 64)
		go func() {
			for m := range q {
				if c.Write(ctx, websocket.MessageText, m) != nil {
					return
				}
			}
		}()
		defer close(q)
		for {
			_, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			q <- p
			adminQ <- p
		}
	}))
	defer s.Close()
	defer close(adminQ)
	u := "ws" + strings.TrimPrefix(s.URL, "http")
	ctx := context.Background()
	admin, _, err := websocket.Dial(ctx, u+"/admin", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.CloseNow()
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		c, _, err := websocket.Dial(ctx, u+"/visitor", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow()
		conns[i] = c
	}
	per := (b.N + clients - 1) / clients
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		for i := 0; i < per*clients; i++ {
			if _, _, err := admin.Read(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := c.Write(ctx, websocket.MessageText, floorFrame); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-adminDone
	b.ReportMetric(float64(per*clients)/b.Elapsed().Seconds(), "msgs/s")
}
