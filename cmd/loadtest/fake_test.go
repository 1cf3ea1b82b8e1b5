package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeServer speaks just enough of the livechat protocol for the tool:
// signup, an admin room socket and visitor chat sockets that echo each
// message to the visitor and the admin.
func fakeServer(t *testing.T) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	var admin *websocket.Conn
	var id int
	write := func(c *websocket.Conn, b []byte) {
		mu.Lock()
		defer mu.Unlock()
		c.Write(context.Background(), websocket.MessageText, b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts/api/signup", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1", Path: "/"})
		w.WriteHeader(http.StatusCreated)
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
			mu.Lock()
			id++
			m := map[string]any{"id": id, "content": f.Message.Content, "client_id": f.Message.ClientID, "author": r.PathValue("c")}
			a := admin
			mu.Unlock()
			out, _ := json.Marshal(map[string]any{"command": "new_message", "message": m})
			write(c, out)
			if a != nil {
				write(a, out)
			}
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
