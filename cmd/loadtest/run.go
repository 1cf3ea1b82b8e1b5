package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// runOpts are the flags of "run".
type runOpts struct {
	common
	visitors     int
	rate         float64
	duration     time.Duration
	warmup       time.Duration
	drain        time.Duration
	settle       time.Duration
	pid          int
	contentBytes int
	dialConc     int
	label        string
	waitQuiet    time.Duration
	// echoCount counts distinct own echoes over all visitors.
	echoCount atomic.Int64
}

// visitor is one visitor chat socket.
type visitor struct {
	idx      int
	consumer string
	conn     *websocket.Conn
	sent     int64 // messages written; read after the senders are done
	echoes   seqSet
	echoDups int
	lags     []time.Duration // actual minus scheduled send time (open loop)
	rtts     []time.Duration // send to own echo (closed loop)
	// echo carries the seq of each own echo to the closed-loop sender;
	// dead closes when the reader stops.
	echo chan int
	dead chan struct{}
}

// adminState is what the admin room socket goroutine collects.
type adminState struct {
	seen      []seqSet // per visitor
	distinct  atomic.Int64
	dups      int64
	latencies []time.Duration // for messages sent after the warm-up, from the scheduled time
	fromSend  []time.Duration // the same from the actual send time
	perSecond []secondStat    // by scheduled send second
	commands  map[string]int
	errors    map[string]int
	measured  int64 // distinct messages sent after the warm-up
	closeErr  string
}

// Report is the JSON line "run" prints.
type Report struct {
	Label             string  `json:"label,omitempty"`
	Mode              string  `json:"mode"`
	VisitorsWanted    int     `json:"visitors_wanted"`
	VisitorsConnected int     `json:"visitors_connected"`
	ConnectSeconds    float64 `json:"connect_s"`
	Dial              Summary `json:"dial"`
	RateTarget        float64 `json:"rate_target,omitempty"`
	DurationS         float64 `json:"duration_s"`
	WarmupS           float64 `json:"warmup_s"`
	Sent              int64   `json:"sent"`
	Delivered         int64   `json:"delivered_admin"`
	Lost              int64   `json:"lost_admin"`
	Duplicates        int64   `json:"duplicates_admin"`
	EchoDelivered     int64   `json:"delivered_room"`
	EchoLost          int64   `json:"lost_room"`
	EchoDuplicates    int64   `json:"duplicates_room"`
	MsgsPerSec        float64 `json:"msgs_per_s"`
	// WorstSeconds are the seconds (of scheduled send time, from the start
	// of the warm-up) with the highest latency: periodic stalls show here.
	WorstSeconds    []secondStat   `json:"worst_seconds"`
	Latency         Summary        `json:"latency_visitor_to_admin"`
	LatencyFromSend Summary        `json:"latency_from_actual_send"`
	SendLag         *Summary       `json:"send_lag,omitempty"`
	EchoRTT         *Summary       `json:"echo_rtt,omitempty"`
	Errors          map[string]int `json:"errors"`
	AdminFrames     map[string]int `json:"admin_frames"`
	Server          *ServerUsage   `json:"server,omitempty"`
	ToolCPUSeconds  float64        `json:"tool_cpu_s"`
	// Machine is the whole machine during the measurement: busy cores, and
	// how many of them went to processes other than the server and this
	// tool (a busy neighbour inflates latency).
	MachineBusyCores float64 `json:"machine_busy_cores"`
	OtherCores       float64 `json:"other_processes_cores"`
	LoadAvgStart     string  `json:"loadavg_start"`
	LoadAvgEnd       string  `json:"loadavg_end"`
	ToolPeakRSSMiB   float64 `json:"tool_peak_rss_mib"`
}

// ServerUsage is what /proc says about the server during the run.
type ServerUsage struct {
	PID                int     `json:"pid"`
	RSSBeforeMiB       float64 `json:"rss_before_mib"`
	RSSConnectedMiB    float64 `json:"rss_connected_mib"`
	RSSPerVisitorKiB   float64 `json:"rss_per_visitor_kib"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"` // highest VmRSS seen while polling
	VmHWMMiB           float64 `json:"vmhwm_mib"`    // the kernel's peak since the server started
	CPUSeconds         float64 `json:"cpu_s"`        // during warm-up + measurement
	CPUSecondsMeasured float64 `json:"cpu_s_measured"`
	CPUCoresMeasured   float64 `json:"cpu_cores_measured"`
	FDsConnected       int     `json:"fds_connected"`
}

func cmdRun(args []string) error {
	var o runOpts
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	o.register(fs, 0)
	fs.IntVar(&o.visitors, "visitors", 100, "visitor chat sockets")
	fs.Float64Var(&o.rate, "rate", 100, "total messages per second, scheduled (open loop); 0 = closed loop, one in flight per visitor")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured sending time, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "sending time before the measurement, excluded from latency and rate")
	fs.DurationVar(&o.drain, "drain", 10*time.Second, "how long to wait for messages in flight after sending stops")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "pause after connecting, before the RSS sample and the first message")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id, for its RSS and CPU from /proc")
	fs.IntVar(&o.contentBytes, "content-bytes", 40, "message content length")
	fs.IntVar(&o.dialConc, "dial-concurrency", 200, "sockets dialled at once")
	fs.StringVar(&o.label, "label", "", "a name for this run, echoed in the report")
	fs.DurationVar(&o.waitQuiet, "wait-quiet", 0, "before sending, wait up to this long for the machine to be 90% idle for a second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.deadline == 0 {
		o.deadline = o.warmup + o.duration + o.drain + o.settle + 3*time.Minute
	}
	if err := o.setup(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	rep, err := o.run(ctx)
	if rep != nil {
		printReport(rep)
	}
	return err
}

func (o *runOpts) run(ctx context.Context) (*Report, error) {
	rep := &Report{Label: o.label, VisitorsWanted: o.visitors, RateTarget: o.rate,
		DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds()}
	rep.Mode = "open"
	if o.rate <= 0 {
		rep.Mode = "closed"
	}
	toolStart := readSelf()
	var errs counter

	if err := o.signIn(ctx, o.user); err != nil {
		return nil, err
	}

	// The admin room socket, confirmed admin by a fetch_rooms answer.
	adminConn, _, err := websocket.Dial(ctx, o.wsURL("/ws/room/"+o.user), &websocket.DialOptions{HTTPClient: o.admin})
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	adminConn.SetReadLimit(1 << 30)
	if err := adminConn.Write(ctx, websocket.MessageText, []byte(`{"command":"fetch_rooms"}`)); err != nil {
		return nil, fmt.Errorf("admin fetch_rooms: %w", err)
	}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
		_, b, err := adminConn.Read(rctx)
		rcancel()
		if err != nil {
			return nil, fmt.Errorf("admin fetch_rooms: %w", err)
		}
		cmd := string(jsonStringField(b, `"command":"`))
		if cmd == "rooms" {
			break
		}
		if cmd == "error" {
			return nil, fmt.Errorf("admin fetch_rooms: %s", b)
		}
	}

	var serverBefore procStat
	var watch *procWatch
	if o.pid > 0 {
		if serverBefore, err = readProc(o.pid); err != nil {
			return nil, fmt.Errorf("--pid: %w", err)
		}
		watch = watchProc(o.pid)
	}

	// base is time zero for client ids; set before sending starts.
	var base time.Time
	var baseSet atomic.Bool
	var closing atomic.Bool
	adm := &adminState{seen: make([]seqSet, o.visitors), commands: map[string]int{}, errors: map[string]int{}}
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		o.adminLoop(ctx, adminConn, adm, &base, &baseSet, &closing)
	}()

	// Connect the visitors.
	visitors := make([]*visitor, o.visitors)
	dials := make([]time.Duration, o.visitors)
	connStart := time.Now()
	var next atomic.Int64
	var wg, readWG sync.WaitGroup
	for w := 0; w < max(1, o.dialConc); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= o.visitors || ctx.Err() != nil {
					return
				}
				v := &visitor{idx: i, consumer: uuid.NewString()}
				t0 := time.Now()
				dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
				c, resp, err := websocket.Dial(dctx, o.wsURL("/ws/chat/"+o.user+"/"+v.consumer),
					&websocket.DialOptions{HTTPClient: o.clients[i%len(o.clients)]})
				dcancel()
				if err != nil {
					if resp != nil {
						errs.add(fmt.Sprintf("dial: http %d", resp.StatusCode))
					} else {
						errs.add(errKind("dial", err))
					}
					continue
				}
				dials[i] = time.Since(t0)
				c.SetReadLimit(1 << 20)
				v.conn = c
				v.echo = make(chan int, 1)
				v.dead = make(chan struct{})
				visitors[i] = v
				// Read from the start: the server pings, and a socket
				// that is not read cannot answer.
				readWG.Add(1)
				go func() {
					defer readWG.Done()
					defer close(v.dead)
					o.visitorReader(ctx, v, &errs, &closing)
				}()
			}
		}()
	}
	wg.Wait()
	rep.ConnectSeconds = time.Since(connStart).Seconds()
	var active []*visitor
	var dialOK []time.Duration
	for i, v := range visitors {
		if v != nil {
			active = append(active, v)
			dialOK = append(dialOK, dials[i])
		}
	}
	rep.VisitorsConnected = len(active)
	rep.Dial = summarize(dialOK)
	fmt.Fprintf(os.Stderr, "connected %d/%d visitors in %.2fs\n", len(active), o.visitors, rep.ConnectSeconds)

	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
	}
	var serverConnected procStat
	if o.pid > 0 {
		serverConnected, _ = readProc(o.pid)
	}

	if o.waitQuiet > 0 {
		busy := waitQuiet(o.waitQuiet)
		fmt.Fprintf(os.Stderr, "machine %.0f%% busy before sending\n", busy*100)
	}

	// Send.
	base = time.Now().Add(50 * time.Millisecond)
	baseSet.Store(true)
	end := o.warmup + o.duration
	var serverAtMeasure, toolAtMeasure procStat
	var busy0, total0 float64
	rep.LoadAvgStart = loadAvg()
	measureMark := make(chan struct{})
	go func() {
		select {
		case <-time.After(time.Until(base.Add(o.warmup))):
			if o.pid > 0 {
				serverAtMeasure, _ = readProc(o.pid)
			}
			toolAtMeasure = readSelf()
			busy0, total0 = machineCPU()
		case <-ctx.Done():
		}
		close(measureMark)
	}()
	fmt.Fprintf(os.Stderr, "sending for %s (%s warm-up) in %s loop\n", end, o.warmup, rep.Mode)
	var sendWG sync.WaitGroup
	n := len(active)
	for j, v := range active {
		sendWG.Add(1)
		if rep.Mode == "open" {
			go func() {
				defer sendWG.Done()
				o.openSender(ctx, v, j, n, base, end, &errs)
			}()
		} else {
			go func() {
				defer sendWG.Done()
				o.closedSender(ctx, v, base, end, &errs)
			}()
		}
	}
	sendWG.Wait()
	<-measureMark
	var total int64
	for _, v := range active {
		total += v.sent
	}
	sendEnd := time.Since(base)
	var serverAtEnd procStat
	if o.pid > 0 {
		serverAtEnd, _ = readProc(o.pid)
	}
	toolAtEnd := readSelf()
	busy1, total1 := machineCPU()
	rep.LoadAvgEnd = loadAvg()
	if wall := (total1 - total0) / float64(runtime.NumCPU()); wall > 0 && total0 > 0 {
		rep.MachineBusyCores = round3((busy1 - busy0) / wall)
		others := (busy1 - busy0) - (toolAtEnd.CPU - toolAtMeasure.CPU)
		if o.pid > 0 {
			others -= serverAtEnd.CPU - serverAtMeasure.CPU
		}
		rep.OtherCores = round3(max(0, others) / wall)
	}

	// Drain: wait until the admin has seen everything sent, or give up.
	drainUntil := time.Now().Add(o.drain)
	for time.Now().Before(drainUntil) && ctx.Err() == nil {
		if adm.distinct.Load() >= total && o.echoCount.Load() >= total {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	closing.Store(true)

	// Close everything; the server sees normal closures.
	var closeWG sync.WaitGroup
	for _, v := range active {
		closeWG.Add(1)
		go func() {
			defer closeWG.Done()
			v.conn.Close(websocket.StatusNormalClosure, "done")
		}()
	}
	adminConn.Close(websocket.StatusNormalClosure, "done")
	readWG.Wait()
	<-adminDone
	closeWG.Wait()

	// Tally.
	rep.Sent = total
	rep.Delivered = adm.distinct.Load()
	rep.Lost = total - rep.Delivered
	rep.Duplicates = adm.dups
	var lags, rtts []time.Duration
	for _, v := range active {
		rep.EchoDelivered += int64(v.echoes.n)
		rep.EchoDuplicates += int64(v.echoDups)
		lags = append(lags, v.lags...)
		rtts = append(rtts, v.rtts...)
	}
	rep.EchoLost = total - rep.EchoDelivered
	rep.Latency = summarize(adm.latencies)
	rep.LatencyFromSend = summarize(adm.fromSend)
	rep.WorstSeconds = worstSeconds(adm.perSecond, 8)
	if len(lags) > 0 {
		s := summarize(lags)
		rep.SendLag = &s
	}
	if len(rtts) > 0 {
		s := summarize(rtts)
		rep.EchoRTT = &s
	}
	measured := min(sendEnd, end) - o.warmup
	if measured > 0 {
		rep.MsgsPerSec = float64(adm.measured) / measured.Seconds()
	}
	rep.Errors = errs.snapshot()
	for k, v := range adm.errors {
		rep.Errors[k] += v
	}
	if adm.closeErr != "" {
		rep.Errors["admin socket: "+adm.closeErr]++
	}
	rep.AdminFrames = adm.commands
	if o.pid > 0 {
		peak := watch.Stop()
		last, _ := readProc(o.pid)
		su := &ServerUsage{
			PID:                o.pid,
			RSSBeforeMiB:       mib(serverBefore.RSSKiB),
			RSSConnectedMiB:    mib(serverConnected.RSSKiB),
			PeakRSSMiB:         mib(peak),
			VmHWMMiB:           mib(last.HWMKiB),
			CPUSeconds:         round3(serverAtEnd.CPU - serverConnected.CPU),
			CPUSecondsMeasured: round3(serverAtEnd.CPU - serverAtMeasure.CPU),
			FDsConnected:       serverConnected.FDs,
		}
		if measured > 0 {
			su.CPUCoresMeasured = round3(su.CPUSecondsMeasured / measured.Seconds())
		}
		if len(active) > 0 {
			su.RSSPerVisitorKiB = round3(float64(serverConnected.RSSKiB-serverBefore.RSSKiB) / float64(len(active)))
		}
		rep.Server = su
	}
	self := readSelf()
	rep.ToolCPUSeconds = round3(self.CPU - toolStart.CPU)
	rep.ToolPeakRSSMiB = mib(self.HWMKiB)
	if ctx.Err() != nil {
		return rep, fmt.Errorf("hit the --deadline of %s", o.deadline)
	}
	return rep, nil
}

// adminLoop reads the admin room socket until it closes.
func (o *runOpts) adminLoop(ctx context.Context, c *websocket.Conn, adm *adminState, base *time.Time, baseSet, closing *atomic.Bool) {
	var buf bytes.Buffer
	for {
		_, r, err := c.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if !closing.Load() && ctx.Err() == nil {
				adm.closeErr = closeKind(err)
			}
			return
		}
		now := time.Now()
		b := buf.Bytes()
		cmd := jsonStringField(b, `"command":"`)
		if string(cmd) != "new_message" {
			adm.commands[string(cmd)]++
			if string(cmd) == "error" {
				adm.errors["admin error frame: "+string(jsonStringField(b, `"error":"`))]++
			}
			continue
		}
		adm.commands["new_message"]++
		id := jsonStringField(b, `"client_id":"`)
		v, seq, t, ok := parseClientID(id)
		if !ok || v < 0 || v >= len(adm.seen) || !baseSet.Load() {
			adm.commands["new_message (not ours)"]++
			continue
		}
		if !adm.seen[v].add(seq) {
			adm.dups++
			continue
		}
		adm.distinct.Add(1)
		if t >= o.warmup {
			lat := now.Sub(base.Add(t))
			adm.latencies = append(adm.latencies, lat)
			sec := int(t / time.Second)
			for len(adm.perSecond) <= sec {
				adm.perSecond = append(adm.perSecond, secondStat{Second: len(adm.perSecond)})
			}
			ps := &adm.perSecond[sec]
			ps.N++
			ps.MaxMs = max(ps.MaxMs, ms(lat))
			if lat > 5*time.Millisecond {
				ps.Over5ms++
			}
			if _, _, ta, ok := parseClientID(actualField(b)); ok {
				adm.fromSend = append(adm.fromSend, now.Sub(base.Add(ta)))
			}
			if t < o.warmup+o.duration {
				adm.measured++
			}
		}
	}
}

// actualField returns the "L<v>.<seq>.<actual send time>" that frame
// puts in the content after "@", or nil.
func actualField(b []byte) []byte {
	c := jsonStringField(b, `"content":"`)
	i := bytes.IndexByte(c, '@')
	if i < 0 {
		return nil
	}
	c = c[i+1:]
	if j := bytes.IndexByte(c, ' '); j >= 0 {
		c = c[:j]
	}
	return c
}

// frame builds a new_message frame for seq due at t; the content also
// carries the actual send time, so latency can be shown both ways.
func (o *runOpts) frame(buf []byte, v *visitor, seq int, t time.Duration, base time.Time) []byte {
	buf = append(buf[:0], `{"command":"new_message","message":{"content":"`...)
	start := len(buf)
	buf = append(buf, "load @"...)
	buf = appendClientID(buf, v.idx, seq, time.Since(base))
	buf = append(buf, ' ')
	for len(buf)-start < o.contentBytes {
		buf = append(buf, '.')
	}
	buf = append(buf, `","client_id":"`...)
	buf = appendClientID(buf, v.idx, seq, t)
	return append(buf, `"}}`...)
}

// openSender sends visitor j's share of the global schedule: message k
// (k = j, j+n, j+2n, ...) is due at base + k/rate.
func (o *runOpts) openSender(ctx context.Context, v *visitor, j, n int, base time.Time, end time.Duration, errs *counter) {
	var buf []byte
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for m := 0; ; m++ {
		k := j + m*n
		t := time.Duration(float64(k) / o.rate * float64(time.Second))
		if t >= end {
			return
		}
		if d := time.Until(base.Add(t)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if t >= o.warmup {
			v.lags = append(v.lags, time.Since(base.Add(t)))
		}
		buf = o.frame(buf, v, m, t, base)
		if err := v.conn.Write(ctx, websocket.MessageText, buf); err != nil {
			if ctx.Err() == nil {
				errs.add(errKind("visitor write", err))
			}
			return
		}
		v.sent++
	}
}

// visitorReader reads a visitor socket in open loop: counts its own echoes
// and error frames.
func (o *runOpts) visitorReader(ctx context.Context, v *visitor, errs *counter, closing *atomic.Bool) {
	var buf bytes.Buffer
	for {
		_, r, err := v.conn.Reader(ctx)
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			if !closing.Load() && ctx.Err() == nil {
				errs.add("visitor socket: " + closeKind(err))
			}
			return
		}
		o.visitorFrame(v, buf.Bytes(), errs)
	}
}

// visitorFrame handles one frame to a visitor; it returns the seq of the
// visitor's own echo, or -1.
func (o *runOpts) visitorFrame(v *visitor, b []byte, errs *counter) int {
	switch string(jsonStringField(b, `"command":"`)) {
	case "new_message":
		vi, seq, _, ok := parseClientID(jsonStringField(b, `"client_id":"`))
		if !ok || vi != v.idx {
			errs.add("visitor got a message not its own")
			return -1
		}
		if v.echoes.add(seq) {
			o.echoCount.Add(1)
		} else {
			v.echoDups++
		}
		if o.rate <= 0 {
			select {
			case v.echo <- seq:
			default:
			}
		}
		return seq
	case "error":
		errs.add("visitor error frame: " + string(jsonStringField(b, `"error":"`)))
	}
	return -1
}

// closedSender sends, waits for its own echo, and sends again, until end.
func (o *runOpts) closedSender(ctx context.Context, v *visitor, base time.Time, end time.Duration, errs *counter) {
	var buf []byte
	for m := 0; ; m++ {
		t := time.Since(base)
		if t >= end {
			return
		}
		if t < 0 {
			time.Sleep(-t)
			t = time.Since(base)
		}
		buf = o.frame(buf, v, m, t, base)
		if err := v.conn.Write(ctx, websocket.MessageText, buf); err != nil {
			if ctx.Err() == nil {
				errs.add(errKind("visitor write", err))
			}
			return
		}
		v.sent++
		timeout := time.NewTimer(10 * time.Second)
	wait:
		for {
			select {
			case seq := <-v.echo:
				if seq == m {
					if t >= o.warmup {
						v.rtts = append(v.rtts, time.Since(base.Add(t)))
					}
					break wait
				}
			case <-timeout.C:
				errs.add("visitor: no echo in 10 s")
				return
			case <-v.dead:
				return
			case <-ctx.Done():
				return
			}
		}
		timeout.Stop()
	}
}

// closeKind names why a socket read ended.
func closeKind(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return fmt.Sprintf("closed %d", int(code))
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	return errKind("read", err)
}

func mib(kib int64) float64 { return round3(float64(kib) / 1024) }

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func readSelf() procStat {
	ps, _ := readProc(os.Getpid())
	return ps
}

// printReport writes the JSON line to stdout and a summary to stderr.
func printReport(r *Report) {
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n== %s loop%s: %d/%d visitors connected in %.2fs (dial p50 %.2fms p99 %.2fms)\n",
		r.Mode, labelSuffix(r.Label), r.VisitorsConnected, r.VisitorsWanted, r.ConnectSeconds, r.Dial.P50, r.Dial.P99)
	fmt.Fprintf(&sb, "   sent %d, admin got %d (lost %d, dup %d), rooms got %d (lost %d, dup %d)\n",
		r.Sent, r.Delivered, r.Lost, r.Duplicates, r.EchoDelivered, r.EchoLost, r.EchoDuplicates)
	fmt.Fprintf(&sb, "   %.0f msgs/s measured over %.0fs", r.MsgsPerSec, r.DurationS)
	if r.RateTarget > 0 {
		fmt.Fprintf(&sb, " (target %.0f)", r.RateTarget)
	}
	fmt.Fprintf(&sb, "\n   visitor->admin latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (n=%d)\n",
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.P999, r.Latency.Max, r.Latency.N)
	if len(r.WorstSeconds) > 0 {
		sb.WriteString("   worst seconds (s:max ms/over 5 ms):")
		for _, w := range r.WorstSeconds {
			fmt.Fprintf(&sb, " %d:%.0f/%d", w.Second, w.MaxMs, w.Over5ms)
		}
		sb.WriteString("\n")
	}
	if r.SendLag != nil {
		fmt.Fprintf(&sb, "   send lag behind schedule ms: p50 %.3f  p99 %.3f  max %.3f\n", r.SendLag.P50, r.SendLag.P99, r.SendLag.Max)
	}
	if r.EchoRTT != nil {
		fmt.Fprintf(&sb, "   visitor echo round trip ms: p50 %.3f  p99 %.3f  max %.3f\n", r.EchoRTT.P50, r.EchoRTT.P99, r.EchoRTT.Max)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(&sb, "   server pid %d: RSS %.1f MiB before, %.1f MiB connected (%.1f KiB/visitor), peak %.1f MiB (VmHWM %.1f); %d fds\n",
			s.PID, s.RSSBeforeMiB, s.RSSConnectedMiB, s.RSSPerVisitorKiB, s.PeakRSSMiB, s.VmHWMMiB, s.FDsConnected)
		fmt.Fprintf(&sb, "   server CPU %.2fs while sending, %.2fs measured = %.2f cores\n", s.CPUSeconds, s.CPUSecondsMeasured, s.CPUCoresMeasured)
	}
	fmt.Fprintf(&sb, "   load tool CPU %.2fs, peak RSS %.1f MiB\n", r.ToolCPUSeconds, r.ToolPeakRSSMiB)
	fmt.Fprintf(&sb, "   machine (%d cores) busy %.2f cores while measuring, %.2f of them other processes; load average %s -> %s\n",
		runtime.NumCPU(), r.MachineBusyCores, r.OtherCores, r.LoadAvgStart, r.LoadAvgEnd)
	if len(r.Errors) == 0 {
		sb.WriteString("   errors: none\n")
	}
	for _, k := range sortedKeys(r.Errors) {
		fmt.Fprintf(&sb, "   error %s: %d\n", k, r.Errors[k])
	}
	fmt.Fprintf(&sb, "   admin frames: %v\n", r.AdminFrames)
	fmt.Fprint(os.Stderr, sb.String())
}

func labelSuffix(l string) string {
	if l == "" {
		return ""
	}
	return " [" + l + "]"
}
