package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/coder/websocket"
)

// queryOpts are the flags of "query" (P4).
type queryOpts struct {
	common
	repeat      int
	pid         int
	histUser    string
	histConsumr string
}

// QueryReport is the JSON line "query" prints.
type QueryReport struct {
	FetchRooms     *Timed `json:"fetch_rooms,omitempty"`
	RESTRooms      *Timed `json:"rest_rooms_page,omitempty"`
	FetchMessages  *Timed `json:"fetch_messages_200,omitempty"`
	RESTMessages   *Timed `json:"rest_messages_200,omitempty"`
	RoomsReturned  int    `json:"rooms_returned"`
	MsgsInRooms    int    `json:"messages_in_fetch_rooms"`
	HistoryCount   int    `json:"history_messages_returned"`
	HistoryConsumr string `json:"history_consumer"`
}

// Timed is a repeated call: the first (cold) call apart, the rest summarized.
type Timed struct {
	FirstMs float64 `json:"first_ms"`
	Summary
	Bytes int `json:"bytes"`
	// ServerCPUMs is the server's CPU time per call (user+system), with --pid.
	ServerCPUMs float64 `json:"server_cpu_ms,omitempty"`
}

func cmdQuery(args []string) error {
	var o queryOpts
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	o.register(fs, 10*time.Minute)
	fs.IntVar(&o.repeat, "repeat", 50, "calls of each kind (after one cold call)")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id: also report its CPU time per call (steadier than wall time on a busy machine)")
	fs.StringVar(&o.histUser, "history-user", "", "account whose room is paged for the 200-message history (default --user)")
	fs.StringVar(&o.histConsumr, "history-consumer", "", "that room's consumer (default: the account's most recent room)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.histUser == "" {
		o.histUser = o.user
	}
	if err := o.setup(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	rep := &QueryReport{}
	err := o.run(ctx, rep)
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	for _, x := range []struct {
		name string
		t    *Timed
	}{{"fetch_rooms (admin socket)", rep.FetchRooms}, {"GET /chatbot/api/rooms?limit=50", rep.RESTRooms},
		{"fetch_messages limit 200", rep.FetchMessages}, {"GET .../messages?limit=200", rep.RESTMessages}} {
		if x.t != nil {
			fmt.Fprintf(os.Stderr, "%-34s first %8.3f ms  p50 %8.3f  p99 %8.3f  max %8.3f  server CPU/call %7.2f ms  (%d calls, %d bytes)\n",
				x.name, x.t.FirstMs, x.t.P50, x.t.P99, x.t.Max, x.t.ServerCPUMs, x.t.N, x.t.Bytes)
		}
	}
	fmt.Fprintf(os.Stderr, "fetch_rooms returned %d rooms, %d messages; history returned %d messages\n", rep.RoomsReturned, rep.MsgsInRooms, rep.HistoryCount)
	return err
}

// timeIt calls f once cold and o.repeat times more.
func (o *queryOpts) timeIt(f func() (int, error)) (*Timed, error) {
	var t Timed
	var ds []time.Duration
	var cpu0 procStat
	for i := 0; i <= o.repeat; i++ {
		if i == 1 && o.pid > 0 {
			cpu0, _ = readProc(o.pid)
		}
		t0 := time.Now()
		n, err := f()
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		t.Bytes = n
		if i == 0 {
			t.FirstMs = ms(d)
		} else {
			ds = append(ds, d)
		}
	}
	t.Summary = summarize(ds)
	if o.pid > 0 && o.repeat > 0 {
		cpu1, _ := readProc(o.pid)
		t.ServerCPUMs = round3((cpu1.CPU - cpu0.CPU) * 1000 / float64(o.repeat))
	}
	return &t, nil
}

// socketCall writes req and reads until a frame whose command is want.
func socketCall(ctx context.Context, c *websocket.Conn, req, want string, last *[]byte) (int, error) {
	if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		return 0, err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return 0, err
		}
		switch string(jsonStringField(b, `"command":"`)) {
		case want:
			*last = b
			return len(b), nil
		case "error":
			return 0, fmt.Errorf("%s: %s", req, b)
		}
	}
}

func (o *queryOpts) get(ctx context.Context, path string, last *[]byte) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", o.httpURL(""), nil)
	req.URL, _ = url.Parse(o.httpURL("") + path)
	resp, err := o.admin.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	*last = b
	return len(b), nil
}

func (o *queryOpts) run(ctx context.Context, rep *QueryReport) error {
	if err := o.signIn(ctx, o.user); err != nil {
		return err
	}
	c, _, err := websocket.Dial(ctx, o.wsURL("/ws/room/"+o.user), &websocket.DialOptions{HTTPClient: o.admin})
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 30)
	var last []byte
	if rep.FetchRooms, err = o.timeIt(func() (int, error) {
		return socketCall(ctx, c, `{"command":"fetch_rooms"}`, "rooms", &last)
	}); err != nil {
		return err
	}
	var rooms struct {
		Rooms []struct {
			Consumer string            `json:"consumer"`
			Messages []json.RawMessage `json:"messages"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(last, &rooms); err == nil {
		rep.RoomsReturned = len(rooms.Rooms)
		for _, r := range rooms.Rooms {
			rep.MsgsInRooms += len(r.Messages)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	if rep.RESTRooms, err = o.timeIt(func() (int, error) {
		return o.get(ctx, "/chatbot/api/rooms?limit=50", &last)
	}); err != nil {
		return err
	}

	if o.histUser != o.user {
		if err := o.signIn(ctx, o.histUser); err != nil {
			return err
		}
	}
	consumer := o.histConsumr
	if consumer == "" {
		if _, err := o.get(ctx, "/chatbot/api/rooms?limit=1", &last); err != nil {
			return err
		}
		var page struct {
			Rooms []struct {
				Consumer string `json:"consumer"`
			} `json:"rooms"`
		}
		if err := json.Unmarshal(last, &page); err != nil || len(page.Rooms) == 0 {
			return fmt.Errorf("%s has no rooms to page", o.histUser)
		}
		consumer = page.Rooms[0].Consumer
	}
	rep.HistoryConsumr = consumer
	hc, _, err := websocket.Dial(ctx, o.wsURL("/ws/chat/"+o.histUser+"/"+consumer), &websocket.DialOptions{HTTPClient: o.admin})
	if err != nil {
		return fmt.Errorf("admin chat socket: %w", err)
	}
	defer hc.CloseNow()
	hc.SetReadLimit(1 << 30)
	if rep.FetchMessages, err = o.timeIt(func() (int, error) {
		return socketCall(ctx, hc, `{"command":"fetch_messages","limit":200}`, "messages", &last)
	}); err != nil {
		return err
	}
	var msgs struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if json.Unmarshal(last, &msgs) == nil {
		rep.HistoryCount = len(msgs.Messages)
	}
	hc.Close(websocket.StatusNormalClosure, "")
	if rep.RESTMessages, err = o.timeIt(func() (int, error) {
		return o.get(ctx, "/chatbot/api/rooms/"+url.PathEscape(consumer)+"/messages?limit=200", &last)
	}); err != nil {
		return err
	}
	return nil
}
