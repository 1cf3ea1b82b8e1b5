package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// soakOpts are the flags of "soak": a long, light, varied load that looks
// for what grows (memory, goroutines, threads, open files) rather than for
// how fast the server is.
type soakOpts struct {
	common
	visitors       int
	rate           float64
	duration       time.Duration
	sample         time.Duration
	uploadsEvery   time.Duration
	reconnectEvery time.Duration
	visitorLife    time.Duration
	replyFraction  float64
	drain          time.Duration
	pid            int
	pprofURL       string
	contentBytes   int
	fileBytes      int
	flatRSS        float64 // MiB per hour
	flatCount      float64 // goroutines, threads or fds per hour

	out, log io.Writer // sample lines and the summary; progress
	goURL    string    // the pprof goroutine URL, from pprofURL
}

// soakStats are counted by many goroutines.
type soakStats struct {
	joins, leaves, reconnects, connected atomic.Int64

	sent, echoed, echoMissing, delivered, duplicates atomic.Int64

	repliesSent, repliesAcked, repliesFailed, repliesDelivered, repliesLost, repliesSkipped atomic.Int64

	uploadsOK, uploadsFailed, uploadsSkipped atomic.Int64

	adminFrames counter
	errs        counter
}

// soakVisitor is one visitor slot: a visitor joins (a new consumer id, so
// a new room), talks, is sometimes reconnected, leaves, and the next visitor
// takes the slot.
type soakVisitor struct {
	slot      int
	reconnect chan struct{}

	mu       sync.Mutex
	consumer string // "" while nobody holds the slot
	busy     bool   // leaving or reconnecting: no new replies, no uploads
	// echoWait holds this visitor's messages not yet echoed back to it;
	// replyWait the admin replies to it not yet received. A visitor leaves
	// or reconnects only when both are empty (or after --drain).
	echoWait  map[int64]struct{}
	replyWait map[int64]struct{}
	changed   chan struct{} // a wait set shrank
}

func (v *soakVisitor) signal() {
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

// vconn is one visitor socket and its reader.
type vconn struct {
	c       *websocket.Conn
	closing atomic.Bool
	done    chan struct{}
}

// SoakSample is one line of the output: the server's state and the load's
// progress. A figure that could not be read is null, never a guess.
type SoakSample struct {
	Type       string   `json:"type"` // "sample"
	T          float64  `json:"t_s"`
	RSSMiB     *float64 `json:"rss_mib"`
	AnonMiB    *float64 `json:"rss_anon_mib"`
	Threads    *int     `json:"threads"`
	Goroutines *int     `json:"goroutines"`
	FDs        *int     `json:"fds"`
	Visitors   int64    `json:"visitors_connected"`
	Sent       int64    `json:"sent"`
	Delivered  int64    `json:"delivered_admin"`
	Replies    int64    `json:"replies_acked"`
	UploadsOK  int64    `json:"uploads_ok"`
	Errors     int      `json:"errors"`
	Note       string   `json:"note,omitempty"`
}

// Trend is a least-squares line through one metric over the second half
// of the run.
type Trend struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	First  float64 `json:"first"` // first sample under load
	Last   float64 `json:"last"`
	N      int     `json:"n_second_half"`
	Slope  float64 `json:"slope_per_hour"`
	StdErr float64 `json:"stderr_per_hour"`
	Limit  float64 `json:"limit_per_hour"`
	Flat   bool    `json:"flat"`
}

// SoakSummary is the last line of the output.
type SoakSummary struct {
	Type            string         `json:"type"` // "summary"
	DurationS       float64        `json:"duration_s"`
	SampleS         float64        `json:"sample_s"`
	Samples         int            `json:"samples"`
	VisitorsTarget  int            `json:"visitors"`
	RateTarget      float64        `json:"rate_target"`
	Joins           int64          `json:"visitors_joined"`
	Leaves          int64          `json:"visitors_left"`
	Reconnects      int64          `json:"reconnects"`
	Sent            int64          `json:"sent"`
	Delivered       int64          `json:"delivered_admin"`
	Lost            int64          `json:"lost_admin"`
	Duplicates      int64          `json:"duplicates_admin"`
	Echoed          int64          `json:"echoed_visitor"`
	EchoMissing     int64          `json:"echo_missing"`
	RepliesSent     int64          `json:"replies_sent"`
	RepliesAcked    int64          `json:"replies_acked"`
	RepliesFailed   int64          `json:"replies_failed"`
	RepliesDeliv    int64          `json:"replies_delivered_visitor"`
	RepliesLost     int64          `json:"replies_lost"`
	RepliesSkipped  int64          `json:"replies_skipped"`
	UploadsOK       int64          `json:"uploads_ok"`
	UploadsFailed   int64          `json:"uploads_failed"`
	UploadsSkipped  int64          `json:"uploads_skipped"`
	Errors          map[string]int `json:"errors"`
	AdminFrames     map[string]int `json:"admin_frames"`
	GoroutineSource string         `json:"goroutine_source"`
	Before          *SoakSample    `json:"idle_before,omitempty"`
	After           *SoakSample    `json:"idle_after,omitempty"`
	Trends          []Trend        `json:"trends"`
	Verdict         string         `json:"verdict"`
}

func cmdSoak(args []string) error {
	var o soakOpts
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	o.register(fs, 0)
	fs.IntVar(&o.visitors, "visitors", 200, "visitor slots; each slot's visitor joins, talks, leaves and is replaced")
	fs.Float64Var(&o.rate, "rate", 20, "visitor messages per second, all visitors together")
	fs.DurationVar(&o.duration, "duration", 30*time.Minute, "how long the load runs")
	fs.DurationVar(&o.sample, "sample", 5*time.Second, "how often to sample the server")
	fs.DurationVar(&o.uploadsEvery, "uploads-every", 2*time.Second, "one upload by a random visitor this often (0: none)")
	fs.DurationVar(&o.reconnectEvery, "reconnect-every", time.Second, "one random visitor drops its socket and reconnects this often (0: never)")
	fs.DurationVar(&o.visitorLife, "visitor-life", time.Minute, "a visitor stays 0.5 to 1.5 times this long, then leaves and a new one joins")
	fs.Float64Var(&o.replyFraction, "reply-fraction", 0.25, "share of visitor messages the admin answers (over its own chat socket)")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "how long a leaving visitor, and the end of the run, wait for messages in flight")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id: RSS, threads and open files from /proc/PID")
	fs.StringVar(&o.pprofURL, "pprof", "", "the server's pprof `URL` (e.g. http://127.0.0.1:6060): goroutines from debug/pprof/goroutine?debug=1")
	fs.IntVar(&o.contentBytes, "content-bytes", 60, "message content length")
	fs.IntVar(&o.fileBytes, "file-bytes", 4096, "size of each uploaded file")
	fs.Float64Var(&o.flatRSS, "flat-rss", 10, "RSS growth in MiB/hour over the second half still called flat")
	fs.Float64Var(&o.flatCount, "flat-count", 60, "goroutine, thread or open-file growth per hour over the second half still called flat")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.deadline == 0 {
		o.deadline = o.duration + 2*o.drain + 3*time.Minute
	}
	o.out, o.log = os.Stdout, os.Stderr
	if err := o.check(); err != nil {
		return err
	}
	if err := o.setup(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	_, err := o.run(ctx)
	return err
}

// check validates the flags that setup does not.
func (o *soakOpts) check() error {
	switch {
	case o.visitors < 1:
		return fmt.Errorf("--visitors must be at least 1")
	case o.rate <= 0:
		return fmt.Errorf("--rate must be above 0")
	case o.duration <= 0 || o.sample <= 0 || o.visitorLife <= 0:
		return fmt.Errorf("--duration, --sample and --visitor-life must be above 0")
	case o.replyFraction < 0 || o.replyFraction > 1:
		return fmt.Errorf("--reply-fraction must be between 0 and 1")
	case o.fileBytes < 1:
		return fmt.Errorf("--file-bytes must be at least 1")
	}
	if o.pprofURL != "" {
		u, err := goroutineURL(o.pprofURL)
		if err != nil {
			return err
		}
		if err := loopbackOnly(u, o.allowRemote); err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
		o.goURL = u
	}
	return nil
}

// goroutineURL turns --pprof (a base URL, .../debug/pprof/ or the full
// goroutine URL) into the goroutine profile's text URL.
func goroutineURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--pprof %q: want http(s)://host:port[/debug/pprof/]", s)
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/debug/pprof/goroutine"):
	case strings.HasSuffix(p, "/debug/pprof"):
		p += "/goroutine"
	default:
		p += "/debug/pprof/goroutine"
	}
	u.Path = p
	u.RawQuery = "debug=1"
	return u.String(), nil
}

// loopbackOnly refuses a URL whose host is not loopback, unless allowed.
func loopbackOnly(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() && !allowRemote {
			return fmt.Errorf("%s is not a loopback address; pass --allow-remote to load a server you own", u.Hostname())
		}
	}
	return nil
}

// parseGoroutineHeader reads the count from the first line of
// debug/pprof/goroutine?debug=1: "goroutine profile: total 123".
func parseGoroutineHeader(line string) (int, error) {
	const prefix = "goroutine profile: total "
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, prefix) {
		return 0, fmt.Errorf("not a goroutine profile header: %.60q", line)
	}
	n, err := strconv.Atoi(line[len(prefix):])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad goroutine count in %.60q", line)
	}
	return n, nil
}

// goroutines asks the server's pprof endpoint for its goroutine count.
func (o *soakOpts) goroutines(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", o.goURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := o.clients[0].Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pprof: http %d", resp.StatusCode)
	}
	line, err := bufio.NewReaderSize(resp.Body, 256).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("pprof: %w", err)
	}
	return parseGoroutineHeader(line)
}

// takeSample reads the server's state; what cannot be read stays null and
// is named in Note.
func (o *soakOpts) takeSample(ctx context.Context, start time.Time, st *soakStats) SoakSample {
	s := SoakSample{Type: "sample", T: round3(time.Since(start).Seconds()),
		Visitors: st.connected.Load(), Sent: st.sent.Load(), Delivered: st.delivered.Load(),
		Replies: st.repliesAcked.Load(), UploadsOK: st.uploadsOK.Load()}
	var notes []string
	if o.pid > 0 {
		if ps, err := readProc(o.pid); err != nil {
			notes = append(notes, "proc: "+err.Error())
		} else {
			rss, anon, th, fds := mib(ps.RSSKiB), mib(ps.AnonKiB), ps.Threads, ps.FDs
			s.RSSMiB, s.AnonMiB, s.Threads, s.FDs = &rss, &anon, &th, &fds
		}
	} else {
		notes = append(notes, "no --pid: RSS, threads and open files not sampled")
	}
	if o.goURL != "" {
		if n, err := o.goroutines(ctx); err != nil {
			notes = append(notes, "goroutines: "+err.Error())
			st.errs.add(errKind("pprof", err))
		} else {
			s.Goroutines = &n
		}
	} else {
		notes = append(notes, "no --pprof: goroutines not sampled (threads are a proxy)")
	}
	for _, v := range st.errs.snapshot() {
		s.Errors += v
	}
	s.Note = strings.Join(notes, "; ")
	return s
}

func (o *soakOpts) emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(o.out, string(b))
}

func (o *soakOpts) run(ctx context.Context) (*SoakSummary, error) {
	st := &soakStats{}
	if err := o.signIn(ctx, o.user); err != nil {
		return nil, err
	}
	if o.pid > 0 {
		if _, err := readProc(o.pid); err != nil {
			return nil, fmt.Errorf("--pid: %w", err)
		}
	}
	if o.goURL != "" {
		if _, err := o.goroutines(ctx); err != nil {
			return nil, fmt.Errorf("--pprof %s: %w", o.pprofURL, err)
		}
	}
	sum := &SoakSummary{Type: "summary", SampleS: o.sample.Seconds(), VisitorsTarget: o.visitors, RateTarget: o.rate}
	switch {
	case o.goURL != "":
		sum.GoroutineSource = "pprof " + o.goURL
	case o.pid > 0:
		sum.GoroutineSource = "none (no --pprof); /proc/PID/status Threads reported as a proxy"
	default:
		sum.GoroutineSource = "none (no --pprof, no --pid)"
	}
	start := time.Now()
	before := o.takeSample(ctx, start, st)
	before.Type = "idle_before"
	sum.Before = &before
	o.emit(before)

	stop := make(chan struct{})
	var byConsumer sync.Map // consumer id -> *soakVisitor
	jobs := make(chan string, 64)

	// The admin: its room socket sees every message and answers some.
	adminDone := make(chan struct{})
	var adminClosing atomic.Bool
	var adminConn atomic.Pointer[websocket.Conn]
	go func() {
		defer close(adminDone)
		o.adminLoop(ctx, st, jobs, stop, &adminClosing, &adminConn)
	}()
	var replyWG sync.WaitGroup
	for i := 0; i < 4; i++ {
		replyWG.Add(1)
		go func() {
			defer replyWG.Done()
			for consumer := range jobs {
				o.answer(ctx, st, &byConsumer, consumer)
			}
		}()
	}
	// Wait for the admin socket before visitors talk, so nothing is
	// counted lost because the admin was not listening yet.
	for adminConn.Load() == nil {
		select {
		case <-adminDone:
			return nil, fmt.Errorf("admin socket: %v", st.errs.snapshot())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}

	slots := make([]*soakVisitor, o.visitors)
	var visWG sync.WaitGroup
	for i := range slots {
		v := &soakVisitor{slot: i, reconnect: make(chan struct{}, 1), changed: make(chan struct{}, 1)}
		slots[i] = v
		visWG.Add(1)
		go func() {
			defer visWG.Done()
			// Spread the first joins over a second or so.
			select {
			case <-time.After(time.Duration(i) * time.Second / time.Duration(max(1, o.visitors))):
			case <-stop:
				return
			}
			o.visitorLoop(ctx, stop, v, st, &byConsumer)
		}()
	}

	// Uploads and reconnects, each by one random visitor.
	var upWG sync.WaitGroup
	upSlots := make(chan struct{}, 4)
	tick := func(every time.Duration, f func()) {
		if every <= 0 {
			return
		}
		upWG.Add(1)
		go func() {
			defer upWG.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					f()
				case <-stop:
					return
				}
			}
		}()
	}
	tick(o.reconnectEvery, func() {
		select {
		case slots[rand.IntN(len(slots))].reconnect <- struct{}{}:
		default:
		}
	})
	tick(o.uploadsEvery, func() {
		v := slots[rand.IntN(len(slots))]
		v.mu.Lock()
		consumer, busy := v.consumer, v.busy
		v.mu.Unlock()
		if consumer == "" || busy {
			st.uploadsSkipped.Add(1)
			return
		}
		select {
		case upSlots <- struct{}{}:
		default:
			st.uploadsSkipped.Add(1) // four still in flight: the server is slow
			return
		}
		upWG.Add(1)
		go func() {
			defer upWG.Done()
			defer func() { <-upSlots }()
			o.upload(ctx, v.slot, consumer, st)
		}()
	})

	// Sample until the time is up.
	var samples []SoakSample
	fmt.Fprintf(o.log, "soak: %d visitors, %.0f msgs/s, for %s; a sample every %s\n", o.visitors, o.rate, o.duration, o.sample)
	sampler := time.NewTicker(o.sample)
	end := time.NewTimer(o.duration)
loop:
	for {
		select {
		case <-sampler.C:
			s := o.takeSample(ctx, start, st)
			samples = append(samples, s)
			o.emit(s)
		case <-end.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	sampler.Stop()
	sum.DurationS = round3(time.Since(start).Seconds())

	// Wind down: visitors leave (each waiting for its messages in flight),
	// then the admin gets --drain to see what was sent.
	close(stop)
	visWG.Wait()
	upWG.Wait()
	drainUntil := time.Now().Add(o.drain)
	for st.delivered.Load() < st.sent.Load() && time.Now().Before(drainUntil) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	adminClosing.Store(true)
	if c := adminConn.Load(); c != nil {
		c.Close(websocket.StatusNormalClosure, "done")
	}
	<-adminDone
	close(jobs)
	replyWG.Wait()

	// The server with nobody connected: what the load left behind.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	after := o.takeSample(ctx, start, st)
	after.Type = "idle_after"
	sum.After = &after
	o.emit(after)

	sum.Samples = len(samples)
	sum.Joins, sum.Leaves, sum.Reconnects = st.joins.Load(), st.leaves.Load(), st.reconnects.Load()
	sum.Sent, sum.Delivered, sum.Duplicates = st.sent.Load(), st.delivered.Load(), st.duplicates.Load()
	sum.Lost = sum.Sent - sum.Delivered
	sum.Echoed, sum.EchoMissing = st.echoed.Load(), st.echoMissing.Load()
	sum.RepliesSent, sum.RepliesAcked, sum.RepliesFailed = st.repliesSent.Load(), st.repliesAcked.Load(), st.repliesFailed.Load()
	sum.RepliesDeliv, sum.RepliesLost, sum.RepliesSkipped = st.repliesDelivered.Load(), st.repliesLost.Load(), st.repliesSkipped.Load()
	sum.UploadsOK, sum.UploadsFailed, sum.UploadsSkipped = st.uploadsOK.Load(), st.uploadsFailed.Load(), st.uploadsSkipped.Load()
	sum.Errors = st.errs.snapshot()
	sum.AdminFrames = st.adminFrames.snapshot()
	sum.Trends, sum.Verdict = flatness(samples, o.flatRSS, o.flatCount)
	o.emit(sum)
	o.printSummary(sum)
	if ctx.Err() != nil {
		return sum, fmt.Errorf("hit the --deadline of %s", o.deadline)
	}
	return sum, nil
}

// adminLoop keeps the admin room socket open (redialling if it drops),
// counts the visitors' messages it sees and queues some for an answer.
func (o *soakOpts) adminLoop(ctx context.Context, st *soakStats, jobs chan<- string, stop <-chan struct{}, closing *atomic.Bool, cur *atomic.Pointer[websocket.Conn]) {
	var seen seqSet
	var buf bytes.Buffer
	for ctx.Err() == nil && !closing.Load() {
		c, _, err := websocket.Dial(ctx, o.wsURL("/ws/room/"+o.user), &websocket.DialOptions{HTTPClient: o.admin})
		if err != nil {
			st.errs.add(errKind("admin dial", err))
			if cur.Load() == nil {
				return // never connected: run gives up
			}
			time.Sleep(time.Second)
			continue
		}
		c.SetReadLimit(1 << 30)
		cur.Store(c)
		for {
			_, r, err := c.Reader(ctx)
			if err == nil {
				buf.Reset()
				_, err = buf.ReadFrom(r)
			}
			if err != nil {
				if !closing.Load() && ctx.Err() == nil {
					st.errs.add("admin socket: " + closeKind(err))
				}
				break
			}
			b := buf.Bytes()
			cmd := string(jsonStringField(b, `"command":"`))
			st.adminFrames.add(cmd)
			switch cmd {
			case "error":
				st.errs.add("admin error frame: " + string(jsonStringField(b, `"error":"`)))
			case "new_message":
				id := jsonStringField(b, `"client_id":"`)
				if len(id) < 2 || id[0] != 'V' {
					continue // an admin reply or an upload
				}
				n, err := strconv.ParseInt(string(id[1:]), 10, 64)
				if err != nil || n < 0 {
					st.errs.add("admin: bad client_id")
					continue
				}
				if !seen.add(int(n)) {
					st.duplicates.Add(1)
					continue
				}
				st.delivered.Add(1)
				if rand.Float64() < o.replyFraction {
					select {
					case <-stop:
					case jobs <- string(jsonStringField(b, `"author":"`)):
					default:
						st.repliesSkipped.Add(1)
					}
				}
			}
		}
		c.CloseNow()
	}
}

var replySeq, sendSeq, uploadSeq atomic.Int64

// answer sends one admin reply to consumer's room over a chat socket opened
// with the admin's cookie, and waits for the server to echo it back.
func (o *soakOpts) answer(ctx context.Context, st *soakStats, byConsumer *sync.Map, consumer string) {
	x, ok := byConsumer.Load(consumer)
	if !ok {
		st.repliesSkipped.Add(1) // the visitor has left
		return
	}
	v := x.(*soakVisitor)
	id := replySeq.Add(1)
	v.mu.Lock()
	if v.busy || v.consumer != consumer {
		v.mu.Unlock()
		st.repliesSkipped.Add(1)
		return
	}
	v.replyWait[id] = struct{}{}
	v.mu.Unlock()
	st.repliesSent.Add(1)
	if err := o.reply(ctx, consumer, id); err != nil {
		st.repliesFailed.Add(1)
		st.errs.add(err.Error())
		v.mu.Lock()
		if _, ok := v.replyWait[id]; ok {
			delete(v.replyWait, id)
			v.signal()
		}
		v.mu.Unlock()
		return
	}
	st.repliesAcked.Add(1)
}

func (o *soakOpts) reply(ctx context.Context, consumer string, id int64) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, o.wsURL("/ws/chat/"+o.user+"/"+consumer), &websocket.DialOptions{HTTPClient: o.admin})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("reply dial: http %d", resp.StatusCode)
		}
		return fmt.Errorf("%s", errKind("reply dial", err))
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 24)
	cid := "A" + strconv.FormatInt(id, 10)
	frame := `{"command":"new_message","message":{"content":"admin answer ` + cid + `","client_id":"` + cid + `"}}`
	if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		return fmt.Errorf("%s", errKind("reply write", err))
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return fmt.Errorf("reply socket: %s", closeKind(err))
		}
		switch string(jsonStringField(b, `"command":"`)) {
		case "new_message":
			if string(jsonStringField(b, `"client_id":"`)) == cid {
				c.Close(websocket.StatusNormalClosure, "")
				return nil
			}
		case "error":
			return fmt.Errorf("reply error frame: %s", jsonStringField(b, `"error":"`))
		}
	}
}

// visitorLoop runs one slot until stop: join, talk, leave, repeat.
func (o *soakOpts) visitorLoop(ctx context.Context, stop <-chan struct{}, v *soakVisitor, st *soakStats, byConsumer *sync.Map) {
	hc := o.clients[v.slot%len(o.clients)]
	interval := time.Duration(float64(o.visitors) / o.rate * float64(time.Second))
	jitter := func(d time.Duration) time.Duration { return time.Duration((0.5 + rand.Float64()) * float64(d)) }
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		consumer := uuid.NewString()
		vc, err := o.dialVisitor(ctx, hc, consumer, v, st)
		if err != nil {
			st.errs.add(err.Error())
			select {
			case <-time.After(time.Second):
			case <-stop:
				return
			}
			continue
		}
		st.joins.Add(1)
		st.connected.Add(1)
		v.mu.Lock()
		v.consumer, v.busy = consumer, false
		v.echoWait, v.replyWait = map[int64]struct{}{}, map[int64]struct{}{}
		v.mu.Unlock()
		byConsumer.Store(consumer, v)

		leave := time.NewTimer(jitter(o.visitorLife))
		send := time.NewTimer(time.Duration(rand.Float64() * float64(interval)))
		var buf []byte
	session:
		for {
			select {
			case <-send.C:
				buf = o.visitorSend(ctx, v, vc, buf, st)
				send.Reset(jitter(interval))
			case <-v.reconnect:
				o.quiesce(ctx, v, st)
				vc.close()
				nc, err := o.dialVisitor(ctx, hc, consumer, v, st)
				if err != nil {
					st.errs.add("reconnect " + err.Error())
					vc = nil
					break session
				}
				vc = nc
				st.reconnects.Add(1)
				v.mu.Lock()
				v.busy = false
				v.mu.Unlock()
			case <-leave.C:
				break session
			case <-stop:
				break session
			case <-ctx.Done():
				break session
			}
		}
		leave.Stop()
		send.Stop()
		o.quiesce(ctx, v, st)
		byConsumer.Delete(consumer)
		v.mu.Lock()
		v.consumer = ""
		v.mu.Unlock()
		if vc != nil {
			vc.close()
		}
		st.leaves.Add(1)
		st.connected.Add(-1)
	}
}

// quiesce marks v busy (no new replies) and waits up to --drain for its
// own echoes and the replies in flight; what is still missing then is
// counted.
func (o *soakOpts) quiesce(ctx context.Context, v *soakVisitor, st *soakStats) {
	v.mu.Lock()
	v.busy = true
	v.mu.Unlock()
	t := time.NewTimer(o.drain)
	defer t.Stop()
	for {
		v.mu.Lock()
		e, r := len(v.echoWait), len(v.replyWait)
		if e == 0 && r == 0 {
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		select {
		case <-v.changed:
			continue
		case <-t.C:
		case <-ctx.Done():
		}
		v.mu.Lock()
		st.echoMissing.Add(int64(len(v.echoWait)))
		st.repliesLost.Add(int64(len(v.replyWait)))
		clear(v.echoWait)
		clear(v.replyWait)
		v.mu.Unlock()
		return
	}
}

func (vc *vconn) close() {
	vc.closing.Store(true)
	vc.c.Close(websocket.StatusNormalClosure, "bye")
	<-vc.done
}

// dialVisitor opens the visitor chat socket and starts its reader.
func (o *soakOpts) dialVisitor(ctx context.Context, hc *http.Client, consumer string, v *soakVisitor, st *soakStats) (*vconn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, o.wsURL("/ws/chat/"+o.user+"/"+consumer), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("visitor dial: http %d", resp.StatusCode)
		}
		return nil, fmt.Errorf("%s", errKind("visitor dial", err))
	}
	c.SetReadLimit(1 << 24)
	vc := &vconn{c: c, done: make(chan struct{})}
	go func() {
		defer close(vc.done)
		o.visitorReader(ctx, v, vc, st)
	}()
	return vc, nil
}

func (o *soakOpts) visitorReader(ctx context.Context, v *soakVisitor, vc *vconn, st *soakStats) {
	var buf bytes.Buffer
	for {
		_, r, err := vc.c.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if !vc.closing.Load() && ctx.Err() == nil {
				st.errs.add("visitor socket: " + closeKind(err))
			}
			return
		}
		b := buf.Bytes()
		switch string(jsonStringField(b, `"command":"`)) {
		case "new_message":
			id := jsonStringField(b, `"client_id":"`)
			if len(id) < 2 || (id[0] != 'V' && id[0] != 'A') {
				continue // an upload's message
			}
			n, err := strconv.ParseInt(string(id[1:]), 10, 64)
			if err != nil {
				st.errs.add("visitor: bad client_id")
				continue
			}
			v.mu.Lock()
			wait, ctr := v.echoWait, &st.echoed
			if id[0] == 'A' {
				wait, ctr = v.replyWait, &st.repliesDelivered
			}
			if _, ok := wait[n]; ok {
				delete(wait, n)
				ctr.Add(1)
				v.signal()
			} else {
				st.errs.add("visitor got a message it was not waiting for (" + string(id[:1]) + ")")
			}
			v.mu.Unlock()
		case "error":
			st.errs.add("visitor error frame: " + string(jsonStringField(b, `"error":"`)))
		}
	}
}

// visitorSend writes one message; it counts as sent once written.
func (o *soakOpts) visitorSend(ctx context.Context, v *soakVisitor, vc *vconn, buf []byte, st *soakStats) []byte {
	n := sendSeq.Add(1)
	const head = `{"command":"new_message","message":{"content":"`
	buf = append(append(buf[:0], head...), "soak V"...)
	start := len(head)
	buf = appendInt(buf, n)
	buf = append(buf, ' ')
	for len(buf)-start < o.contentBytes {
		buf = append(buf, '.')
	}
	buf = append(buf, `","client_id":"V`...)
	buf = appendInt(buf, n)
	buf = append(buf, `"}}`...)
	v.mu.Lock()
	v.echoWait[n] = struct{}{}
	v.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := vc.c.Write(wctx, websocket.MessageText, buf)
	cancel()
	if err != nil {
		v.mu.Lock()
		delete(v.echoWait, n)
		v.mu.Unlock()
		st.errs.add(errKind("visitor write", err))
		return buf
	}
	st.sent.Add(1)
	return buf
}

// upload posts a small text file as the visitor holding consumer.
func (o *soakOpts) upload(ctx context.Context, slot int, consumer string, st *soakStats) {
	n := uploadSeq.Add(1)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("room", o.user+" "+consumer)
	fw, _ := mw.CreateFormFile("file", fmt.Sprintf("soak-%d.txt", n))
	line := fmt.Appendf(nil, "soak upload %d\n", n)
	for w := 0; w < o.fileBytes; w += len(line) {
		fw.Write(line[:min(len(line), o.fileBytes-w)])
	}
	mw.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", o.httpURL("/chatbot/message/file/upload"), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := o.clients[slot%len(o.clients)].Do(req)
	if err != nil {
		st.uploadsFailed.Add(1)
		st.errs.add(errKind("upload", err))
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		st.uploadsFailed.Add(1)
		st.errs.add(fmt.Sprintf("upload: http %d", resp.StatusCode))
		return
	}
	st.uploadsOK.Add(1)
}

// linearFit is the least-squares line through (x, y): its slope and the
// slope's standard error (0 with two points). ok is false with fewer than
// two points or when all x are equal.
func linearFit(x, y []float64) (slope, stderr float64, ok bool) {
	n := len(x)
	if n < 2 || len(y) != n {
		return 0, 0, false
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy float64
	for i := range x {
		sxx += (x[i] - mx) * (x[i] - mx)
		sxy += (x[i] - mx) * (y[i] - my)
	}
	if sxx == 0 {
		return 0, 0, false
	}
	slope = sxy / sxx
	if n > 2 {
		icpt := my - slope*mx
		var rss float64
		for i := range x {
			r := y[i] - (icpt + slope*x[i])
			rss += r * r
		}
		stderr = math.Sqrt(rss / float64(n-2) / sxx)
	}
	return slope, stderr, true
}

// flatness fits each sampled metric over the second half of the run (the
// first half is warm-up: caches fill, the database grows its first pages)
// and calls it flat when it grows less than limit per hour. Goroutines are
// judged when sampled, else threads stand in; a metric never sampled is
// named, not guessed.
func flatness(samples []SoakSample, rssLimit, countLimit float64) ([]Trend, string) {
	if len(samples) == 0 {
		return nil, "unknown: no samples"
	}
	half := samples[len(samples)-1].T / 2
	metrics := []struct {
		name, unit string
		limit      float64
		get        func(SoakSample) (float64, bool)
	}{
		{"rss_mib", "MiB/hour", rssLimit, func(s SoakSample) (float64, bool) { return deref(s.RSSMiB) }},
		{"rss_anon_mib", "MiB/hour", rssLimit, func(s SoakSample) (float64, bool) { return deref(s.AnonMiB) }},
		{"goroutines", "goroutines/hour", countLimit, func(s SoakSample) (float64, bool) { return derefInt(s.Goroutines) }},
		{"threads", "threads/hour", countLimit, func(s SoakSample) (float64, bool) { return derefInt(s.Threads) }},
		{"fds", "open files/hour", countLimit, func(s SoakSample) (float64, bool) { return derefInt(s.FDs) }},
	}
	var trends []Trend
	var growing, missing []string
	judged := map[string]bool{}
	for _, m := range metrics {
		var xs, ys []float64
		t := Trend{Metric: m.name, Unit: m.unit, Limit: m.limit}
		seen := false
		for _, s := range samples {
			y, ok := m.get(s)
			if !ok {
				continue
			}
			if !seen {
				t.First, seen = y, true
			}
			t.Last = y
			if s.T >= half {
				xs = append(xs, s.T/3600)
				ys = append(ys, y)
			}
		}
		if !seen {
			missing = append(missing, m.name)
			continue
		}
		t.N = len(xs)
		slope, se, ok := linearFit(xs, ys)
		if !ok || t.N < 4 {
			missing = append(missing, m.name+" (too few samples in the second half)")
			continue
		}
		t.Slope, t.StdErr = round3(slope), round3(se)
		t.Flat = slope <= m.limit
		trends = append(trends, t)
		judged[m.name] = true
		// rss_anon_mib is shown, not judged: RSS is the verdict's figure.
		if !t.Flat && m.name != "rss_anon_mib" && (m.name != "threads" || !judged["goroutines"]) {
			growing = append(growing, fmt.Sprintf("%s +%.1f %s", m.name, slope, m.unit))
		}
	}
	var b strings.Builder
	switch {
	case !judged["rss_mib"] || (!judged["goroutines"] && !judged["threads"]):
		b.WriteString("unknown")
	case len(growing) > 0:
		b.WriteString("growing: " + strings.Join(growing, ", "))
	default:
		b.WriteString("flat")
	}
	if !judged["goroutines"] && judged["threads"] {
		b.WriteString("; goroutines not sampled, threads judged in their place")
	}
	if len(missing) > 0 {
		b.WriteString("; not measured: " + strings.Join(missing, ", "))
	}
	return trends, b.String()
}

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

func derefInt(p *int) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return float64(*p), true
}

// printSummary writes the summary for a person to the log.
func (o *soakOpts) printSummary(s *SoakSummary) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n== soak: %.0fs, %d samples; visitors joined %d, left %d, reconnected %d\n",
		s.DurationS, s.Samples, s.Joins, s.Leaves, s.Reconnects)
	fmt.Fprintf(&sb, "   visitor messages: sent %d, admin got %d (lost %d, dup %d), echoed %d (missing %d)\n",
		s.Sent, s.Delivered, s.Lost, s.Duplicates, s.Echoed, s.EchoMissing)
	fmt.Fprintf(&sb, "   admin answers: sent %d, acked %d, failed %d, delivered to the visitor %d, lost %d, skipped %d\n",
		s.RepliesSent, s.RepliesAcked, s.RepliesFailed, s.RepliesDeliv, s.RepliesLost, s.RepliesSkipped)
	fmt.Fprintf(&sb, "   uploads: ok %d, failed %d, skipped %d\n", s.UploadsOK, s.UploadsFailed, s.UploadsSkipped)
	fmt.Fprintf(&sb, "   goroutines from: %s\n", s.GoroutineSource)
	for _, t := range s.Trends {
		fmt.Fprintf(&sb, "   %-13s %9.1f -> %9.1f   second half: %+8.2f ± %.2f %s (limit %.0f) %s\n",
			t.Metric, t.First, t.Last, t.Slope, t.StdErr, t.Unit, t.Limit, map[bool]string{true: "flat", false: "GROWING"}[t.Flat])
	}
	idle := func(x *SoakSample) string {
		if x == nil {
			return "-"
		}
		f := func(p *float64) string {
			if p == nil {
				return "?"
			}
			return strconv.FormatFloat(*p, 'f', 1, 64)
		}
		i := func(p *int) string {
			if p == nil {
				return "?"
			}
			return strconv.Itoa(*p)
		}
		return fmt.Sprintf("RSS %s MiB, goroutines %s, threads %s, fds %s", f(x.RSSMiB), i(x.Goroutines), i(x.Threads), i(x.FDs))
	}
	fmt.Fprintf(&sb, "   idle before: %s\n   idle after:  %s\n", idle(s.Before), idle(s.After))
	if len(s.Errors) == 0 {
		sb.WriteString("   errors: none\n")
	}
	for _, k := range sortedKeys(s.Errors) {
		fmt.Fprintf(&sb, "   error %s: %d\n", k, s.Errors[k])
	}
	fmt.Fprintf(&sb, "   admin frames: %v\n   verdict: %s\n", s.AdminFrames, s.Verdict)
	fmt.Fprint(o.log, sb.String())
}
