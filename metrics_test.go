package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads the server's /metrics and returns each sample line's value
// by its name and labels as printed.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics drives a real server (HTTP, an inbox socket, a visitor's
// chat socket, messages) and checks what /metrics reports: requests by
// route and status (websocket upgrades as 101, so the status-recording
// middleware kept http.Hijacker working), open sockets by kind, messages
// stored, and the group-commit histograms; sockets go back to 0 when
// they close.
func TestMetrics(t *testing.T) {
	e := newTestServer(t, chatConfig, func(c *Config) { c.MetricsAddr = "127.0.0.1:0" })
	admin := e.client().signup("acme")
	inbox := e.dialWS("/ws/room/acme", admin)
	visitor := e.dialWS("/ws/chat/acme/visitor-1", nil)
	for i := range 3 {
		visitor.say("hello " + strconv.Itoa(i))
	}
	resp, _ := http.Get(e.URL + "/no/such/page")
	resp.Body.Close()

	h := e.Server.metrics.handler()
	m := scrape(t, h)
	want := map[string]float64{
		`livechat_http_requests_total{code="201",route="POST /accounts/api/signup"}`:          1,
		`livechat_http_requests_total{code="101",route="GET /ws/room/{username}"}`:            1,
		`livechat_http_requests_total{code="101",route="GET /ws/chat/{username}/{consumer}"}`: 1,
		`livechat_http_requests_total{code="404",route="unmatched"}`:                          1,
		`livechat_sockets_open{kind="admin_room"}`:                                            1,
		`livechat_sockets_open{kind="visitor_chat"}`:                                          1,
		`livechat_sockets_open{kind="admin_chat"}`:                                            0,
		`livechat_sockets_open{kind="visitor_room"}`:                                          0,
		`livechat_messages_stored_total`:                                                      3,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// Three messages and the room: at least two commits, all recorded.
	if n := m["livechat_commit_batch_size_count"]; n < 2 {
		t.Errorf("commit batch histogram count %v", n)
	}
	if n := m["livechat_commit_batch_size_sum"]; n < 4 {
		t.Errorf("commit batch histogram sum %v, want >= 4 (3 messages, 1 room)", n)
	}
	if m["livechat_commit_seconds_count"] != m["livechat_commit_batch_size_count"] || m["livechat_commit_seconds_sum"] <= 0 {
		t.Errorf("commit latency: count %v sum %v", m["livechat_commit_seconds_count"], m["livechat_commit_seconds_sum"])
	}
	if m["go_goroutines"] <= 0 {
		t.Error("no Go runtime metrics")
	}
	_ = inbox

	visitor.conn.CloseNow()
	waitFor(t, "the visitor socket to be counted closed", func() bool {
		return scrape(t, h)[`livechat_sockets_open{kind="visitor_chat"}`] == 0
	})
	// Repeated client_id: answered, not counted again.
	visitor2 := e.dialWS("/ws/chat/acme/visitor-1", nil)
	for range 2 {
		visitor2.send(map[string]any{"command": "new_message", "message": map[string]any{"content": "once", "client_id": "c-1"}})
		visitor2.expect("new_message")
	}
	if got := scrape(t, h)["livechat_messages_stored_total"]; got != 4 {
		t.Errorf("after a repeated client_id, messages stored = %v, want 4", got)
	}
}

// TestMetricsListener: --metrics-addr serves /metrics on its own port;
// the main port does not; a non-loopback address needs --metrics-public;
// without the flag the server keeps no metrics at all.
func TestMetricsListener(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	addr, _, _ := runMain(t, "--db", t.TempDir()+"/livechat.db", "--metrics-addr", "127.0.0.1:"+port)
	var body []byte
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
	}
	if !regexp.MustCompile(`(?m)^livechat_sockets_open\{kind="visitor_chat"\} 0$`).Match(body) {
		t.Errorf("metrics port: %.300s", body)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/metrics on the public port: %d", resp.StatusCode)
	}

	env := func(string) string { return "" }
	for _, a := range []string{"0.0.0.0:9090", ":9090", "192.0.2.1:9090"} {
		if _, err := parseFlags([]string{"--metrics-addr", a}, env, io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics-public") {
			t.Errorf("--metrics-addr %s: %v", a, err)
		}
		if _, err := parseFlags([]string{"--metrics-addr", a, "--metrics-public"}, env, io.Discard); err != nil {
			t.Errorf("--metrics-addr %s --metrics-public: %v", a, err)
		}
	}
	if ts := newTestServer(t); ts.Server.metrics != nil {
		t.Error("metrics kept without --metrics-addr")
	}
}
