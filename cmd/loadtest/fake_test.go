package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeOpts change how fakeServer behaves.
type fakeOpts struct {
	// dropAdmin, when set, is asked about every visitor message (numbered
	// from 1): true keeps it from the admin room socket, a lost message.
	dropAdmin func(n int) bool
}

// fakeServer speaks just enough of the livechat protocol for the tool:
// signup, an admin room socket, chat sockets (a visitor's, or the admin's
// when the request carries the session cookie) that send each message to
// every socket of the room and to the admin, uploads, and a pprof
// goroutine header.
func fakeServer(t *testing.T, opt ...fakeOpts) *httptest.Server {
	t.Helper()
	var fo fakeOpts
	if len(opt) > 0 {
		fo = opt[0]
	}
	var mu sync.Mutex // guards admin, rooms, id, visitorMsgs
	var admin *websocket.Conn
	rooms := map[string]map[*websocket.Conn]bool{}
	var id, visitorMsgs int
	var wmu sync.Mutex // one write at a time, whatever the socket
	write := func(c *websocket.Conn, b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		c.Write(context.Background(), websocket.MessageText, b)
	}
	// broadcast sends m to the room's sockets and (unless dropped) the admin.
	broadcast := func(consumer string, m map[string]any, visitor bool) {
		out, _ := json.Marshal(map[string]any{"command": "new_message", "message": m})
		mu.Lock()
		var to []*websocket.Conn
		for c := range rooms[consumer] {
			to = append(to, c)
		}
		toAdmin := admin != nil
		if visitor {
			visitorMsgs++
			if fo.dropAdmin != nil && fo.dropAdmin(visitorMsgs) {
				toAdmin = false
			}
		}
		a := admin
		mu.Unlock()
		for _, c := range to {
			write(c, out)
		}
		if toAdmin {
			write(a, out)
		}
	}
	nextID := func() int {
		mu.Lock()
		defer mu.Unlock()
		id++
		return id
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts/api/signup", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1", Path: "/"})
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /debug/pprof/goroutine", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "goroutine profile: total %d\n1 @ 0x1\n", runtime.NumGoroutine())
	})
	mux.HandleFunc("POST /chatbot/message/file/upload", func(w http.ResponseWriter, r *http.Request) {
		f, h, err := r.FormFile("file")
		user, consumer, _ := strings.Cut(r.FormValue("room"), " ")
		if err != nil || user == "" || consumer == "" {
			http.Error(w, `{"detail":"bad upload"}`, http.StatusBadRequest)
			return
		}
		n, _ := io.Copy(io.Discard, f)
		if n == 0 {
			http.Error(w, `{"detail":"empty file"}`, http.StatusBadRequest)
			return
		}
		m := map[string]any{"id": nextID(), "content": h.Filename, "type": "text/plain", "author": consumer}
		broadcast(consumer, m, false)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(m)
	})
	mux.HandleFunc("GET /ws/room/{u}", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		admin = c
		mu.Unlock()
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
			write(c, []byte(`{"command":"rooms","rooms":[]}`))
		}
	})
	mux.HandleFunc("GET /ws/chat/{u}/{c}", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		consumer := r.PathValue("c")
		author := consumer
		_, err = r.Cookie("s")
		isAdmin := err == nil
		if isAdmin {
			author = r.PathValue("u")
		}
		mu.Lock()
		if rooms[consumer] == nil {
			rooms[consumer] = map[*websocket.Conn]bool{}
		}
		rooms[consumer][c] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(rooms[consumer], c)
			mu.Unlock()
		}()
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f struct {
				Message struct {
					Content  string `json:"content"`
					ClientID string `json:"client_id"`
				} `json:"message"`
			}
			json.Unmarshal(b, &f)
			m := map[string]any{"id": nextID(), "content": f.Message.Content, "client_id": f.Message.ClientID, "author": author}
			broadcast(consumer, m, !isAdmin)
		}
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestRunAgainstFake(t *testing.T) {
	s := fakeServer(t)
	for _, rate := range []float64{300, 0} {
		o := &runOpts{visitors: 10, rate: rate, duration: 300 * time.Millisecond, warmup: 100 * time.Millisecond,
			drain: 2 * time.Second, contentBytes: 20, dialConc: 4}
		o.baseURL, o.user, o.password, o.sourceIPs = s.URL, "u", "p", 2
		if err := o.setup(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		rep, err := o.run(ctx)
		cancel()
		if err != nil {
			t.Fatalf("rate %v: %v", rate, err)
		}
		if rep.VisitorsConnected != 10 || rep.Sent == 0 || rep.Lost != 0 || rep.EchoLost != 0 || rep.Duplicates != 0 || len(rep.Errors) != 0 {
			t.Errorf("rate %v: report %+v", rate, rep)
		}
		if rate > 0 && (rep.Sent < 100 || rep.Sent > 130) {
			t.Errorf("rate 300 for 0.4 s sent %d, want ~120", rep.Sent)
		}
		if rep.Latency.N == 0 {
			t.Errorf("rate %v: no latencies", rate)
		}
	}
}

func TestRefusesRemote(t *testing.T) {
	o := &runOpts{}
	o.baseURL = "http://192.0.2.1:8000"
	if err := o.setup(); err == nil {
		t.Fatal("setup accepted a non-loopback URL")
	}
}
