package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLinearFit(t *testing.T) {
	// y = 3 + 2x exactly: slope 2, no error.
	x := []float64{0, 1, 2, 3, 4}
	y := []float64{3, 5, 7, 9, 11}
	slope, se, ok := linearFit(x, y)
	if !ok || math.Abs(slope-2) > 1e-12 || se > 1e-12 {
		t.Errorf("linearFit(line)=%v±%v,%v want 2±0", slope, se, ok)
	}
	// Symmetric noise around a flat line: slope 0, a positive error.
	slope, se, ok = linearFit([]float64{0, 1, 2, 3}, []float64{10, 12, 12, 10})
	if !ok || math.Abs(slope) > 1e-12 || se <= 0 {
		t.Errorf("linearFit(flat, noisy)=%v±%v,%v want 0±(>0)", slope, se, ok)
	}
	// A hand-computed case: x 0..3, y 1,2,2,4: slope = sxy/sxx = 4.5/5 = 0.9.
	slope, _, _ = linearFit([]float64{0, 1, 2, 3}, []float64{1, 2, 2, 4})
	if math.Abs(slope-0.9) > 1e-12 {
		t.Errorf("slope=%v want 0.9", slope)
	}
	for _, bad := range [][2][]float64{{nil, nil}, {{1}, {1}}, {{2, 2, 2}, {1, 2, 3}}, {{1, 2}, {1}}} {
		if _, _, ok := linearFit(bad[0], bad[1]); ok {
			t.Errorf("linearFit(%v, %v) ok, want not", bad[0], bad[1])
		}
	}
}

// series builds samples every 10 s for an hour: RSS rssAt(t), goroutines
// and threads as given (nil: not sampled).
func series(rssAt func(h float64) float64, gor func(h float64) float64, threads bool) []SoakSample {
	var out []SoakSample
	for s := 10; s <= 3600; s += 10 {
		h := float64(s) / 3600
		x := SoakSample{T: float64(s)}
		rss := rssAt(h)
		x.RSSMiB, x.AnonMiB = &rss, &rss
		fds := 230
		x.FDs = &fds
		if gor != nil {
			g := int(gor(h))
			x.Goroutines = &g
		}
		if threads {
			th := 9
			x.Threads = &th
		}
		out = append(out, x)
	}
	return out
}

func trend(ts []Trend, metric string) *Trend {
	for i := range ts {
		if ts[i].Metric == metric {
			return &ts[i]
		}
	}
	return nil
}

func TestFlatness(t *testing.T) {
	// Warm-up growth in the first half, then flat with a sawtooth (GC):
	// flat, whatever the first half did.
	warm := func(h float64) float64 {
		saw := float64(int(h*3600)%60) / 30 // 0..2 MiB
		return 40 + min(h, 0.5)*60 + saw
	}
	ts, verdict := flatness(series(warm, func(h float64) float64 { return 420 }, true), 10, 60)
	if verdict != "flat" {
		t.Errorf("warm-up then flat: verdict %q, want flat; trends %+v", verdict, ts)
	}
	if r := trend(ts, "rss_mib"); r == nil || math.Abs(r.Slope) > 1 || r.N != 181 || r.First < 40 || r.Last < 70 {
		t.Errorf("rss trend %+v, want |slope| < 1 over 181 samples", r)
	}

	// A leak of 20 MiB/hour and one goroutine a minute.
	leak := func(h float64) float64 { return 50 + 20*h }
	ts, verdict = flatness(series(leak, func(h float64) float64 { return 400 + 60*h*1.5 }, true), 10, 60)
	if !strings.HasPrefix(verdict, "growing: rss_mib +20.0 MiB/hour, goroutines +90") {
		t.Errorf("leak: verdict %q", verdict)
	}
	if r := trend(ts, "rss_mib"); r == nil || math.Abs(r.Slope-20) > 0.01 || r.Flat {
		t.Errorf("rss trend %+v, want slope 20, not flat", r)
	}
	// Threads are not judged when goroutines were sampled.
	if strings.Contains(verdict, "threads") {
		t.Errorf("verdict %q judges threads though goroutines were sampled", verdict)
	}

	// Shrinking is flat.
	if _, v := flatness(series(func(h float64) float64 { return 80 - 30*h }, func(h float64) float64 { return 400 }, true), 10, 60); v != "flat" {
		t.Errorf("shrinking: verdict %q, want flat", v)
	}

	// No goroutines: threads stand in, and the verdict says so.
	_, verdict = flatness(series(warm, nil, true), 10, 60)
	if !strings.HasPrefix(verdict, "flat; goroutines not sampled, threads judged in their place") || !strings.Contains(verdict, "not measured: goroutines") {
		t.Errorf("no goroutines: verdict %q", verdict)
	}

	// Nothing from the server: unknown, never a number.
	bare := []SoakSample{{T: 5}, {T: 10}, {T: 15}, {T: 20}, {T: 25}}
	ts, verdict = flatness(bare, 10, 60)
	if len(ts) != 0 || !strings.HasPrefix(verdict, "unknown") {
		t.Errorf("no server figures: trends %+v verdict %q, want none and unknown", ts, verdict)
	}
	if _, v := flatness(nil, 10, 60); !strings.HasPrefix(v, "unknown") {
		t.Errorf("no samples: verdict %q", v)
	}
	// Too short a run to fit a line.
	if _, v := flatness(series(warm, nil, true)[:5], 10, 60); !strings.HasPrefix(v, "unknown") || !strings.Contains(v, "too few samples") {
		t.Errorf("five samples: verdict %q", v)
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tlivechat\nState:\tS (sleeping)\nVmHWM:\t   61440 kB\nVmRSS:\t   52224 kB\n" +
		"RssAnon:\t   30720 kB\nRssFile:\t   21504 kB\nThreads:\t11\nSigQ:\t0/91733\n"
	var ps procStat
	if err := parseStatus([]byte(status), &ps); err != nil {
		t.Fatal(err)
	}
	if ps.RSSKiB != 52224 || ps.HWMKiB != 61440 || ps.AnonKiB != 30720 || ps.Threads != 11 {
		t.Errorf("parseStatus=%+v", ps)
	}
	// A kernel thread has no VmRSS; garbage has nothing.
	for _, bad := range []string{"Name:\tkthreadd\nThreads:\t1\n", "", "VmRSS: lots\nThreads: 2\n"} {
		var ps procStat
		if err := parseStatus([]byte(bad), &ps); err == nil {
			t.Errorf("parseStatus(%q) accepted: %+v", bad, ps)
		}
	}
	// And this very process, for real.
	ps, err := readProc(os.Getpid())
	if err != nil || ps.RSSKiB <= 0 || ps.Threads < 1 || ps.FDs < 3 {
		t.Errorf("readProc(self)=%+v, %v", ps, err)
	}
}

func TestGoroutineHeader(t *testing.T) {
	if n, err := parseGoroutineHeader("goroutine profile: total 1234\n"); err != nil || n != 1234 {
		t.Errorf("header: %d, %v", n, err)
	}
	for _, bad := range []string{"", "goroutine profile: total \n", "goroutine profile: total -1\n", "goroutine 1 [running]:\n", "<html>"} {
		if n, err := parseGoroutineHeader(bad); err == nil {
			t.Errorf("parseGoroutineHeader(%q)=%d, want an error", bad, n)
		}
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:6060":                               "http://127.0.0.1:6060/debug/pprof/goroutine?debug=1",
		"http://127.0.0.1:6060/debug/pprof/":                  "http://127.0.0.1:6060/debug/pprof/goroutine?debug=1",
		"http://127.0.0.1:6060/debug/pprof/goroutine?debug=2": "http://127.0.0.1:6060/debug/pprof/goroutine?debug=1",
		"http://localhost:9/x/":                               "http://localhost:9/x/debug/pprof/goroutine?debug=1",
	} {
		if got, err := goroutineURL(in); err != nil || got != want {
			t.Errorf("goroutineURL(%q)=%q, %v want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:6060", "ftp://x/", "http://"} {
		if got, err := goroutineURL(bad); err == nil {
			t.Errorf("goroutineURL(%q)=%q, want an error", bad, got)
		}
	}
}

func TestSoakRefusesRemote(t *testing.T) {
	o := &soakOpts{visitors: 1, rate: 1, duration: time.Second, sample: time.Second, visitorLife: time.Second, fileBytes: 1}
	o.pprofURL = "http://192.0.2.1:6060"
	if err := o.check(); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Errorf("check with a remote --pprof: %v, want a refusal", err)
	}
	o.allowRemote = true
	if err := o.check(); err != nil {
		t.Errorf("check with --allow-remote: %v", err)
	}
	o = &soakOpts{visitors: 1, rate: 1, duration: time.Second, sample: time.Second, visitorLife: time.Second, fileBytes: 1}
	o.baseURL = "http://192.0.2.1:8000"
	if err := o.setup(); err == nil {
		t.Error("setup accepted a non-loopback URL")
	}
	for _, bad := range []soakOpts{{rate: 1}, {visitors: 1}, {visitors: 1, rate: 1, duration: 1, sample: 1, visitorLife: 1, fileBytes: 1, replyFraction: 2}} {
		if err := bad.check(); err == nil {
			t.Errorf("check(%+v) accepted", bad)
		}
	}
}

// soakFake runs a short soak against the fake server, sampling this test
// process as "the server", and returns the summary and the output lines.
func soakFake(t *testing.T, fo fakeOpts) (*SoakSummary, []map[string]any) {
	t.Helper()
	s := fakeServer(t, fo)
	var out, log bytes.Buffer
	o := &soakOpts{visitors: 12, rate: 60, duration: 2500 * time.Millisecond, sample: 250 * time.Millisecond,
		uploadsEvery: 150 * time.Millisecond, reconnectEvery: 100 * time.Millisecond, visitorLife: 800 * time.Millisecond,
		replyFraction: 0.5, drain: 2 * time.Second, pid: os.Getpid(), contentBytes: 30, fileBytes: 3000,
		flatRSS: 1e6, flatCount: 1e6, out: &out, log: &log}
	o.baseURL, o.user, o.password, o.sourceIPs, o.pprofURL = s.URL, "u", "p", 2, s.URL
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	if err := o.setup(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := o.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if !strings.Contains(log.String(), "verdict: ") {
		t.Errorf("no verdict in the log:\n%s", log.String())
	}
	return sum, lines
}

func TestSoakAgainstFake(t *testing.T) {
	sum, lines := soakFake(t, fakeOpts{})
	if sum.Sent < 50 || sum.Lost != 0 || sum.Duplicates != 0 || sum.Delivered != sum.Sent {
		t.Errorf("messages: sent %d delivered %d lost %d dup %d", sum.Sent, sum.Delivered, sum.Lost, sum.Duplicates)
	}
	if sum.Echoed != sum.Sent || sum.EchoMissing != 0 {
		t.Errorf("echoes: %d of %d, %d missing", sum.Echoed, sum.Sent, sum.EchoMissing)
	}
	if sum.RepliesAcked < 10 || sum.RepliesDeliv != sum.RepliesAcked || sum.RepliesLost != 0 || sum.RepliesFailed != 0 {
		t.Errorf("replies: sent %d acked %d delivered %d lost %d failed %d", sum.RepliesSent, sum.RepliesAcked, sum.RepliesDeliv, sum.RepliesLost, sum.RepliesFailed)
	}
	if sum.UploadsOK < 5 || sum.UploadsFailed != 0 {
		t.Errorf("uploads: ok %d failed %d", sum.UploadsOK, sum.UploadsFailed)
	}
	// 12 slots, each visitor staying 0.4-1.2 s over 2.5 s: most slots turn over.
	if sum.Joins <= 20 || sum.Leaves != sum.Joins || sum.Reconnects < 5 {
		t.Errorf("churn: joined %d left %d reconnected %d", sum.Joins, sum.Leaves, sum.Reconnects)
	}
	if len(sum.Errors) != 0 {
		t.Errorf("errors: %v", sum.Errors)
	}
	if sum.Samples < 8 || sum.Before == nil || sum.After == nil {
		t.Errorf("samples %d, before %v, after %v", sum.Samples, sum.Before, sum.After)
	}
	if !strings.HasPrefix(sum.GoroutineSource, "pprof http://127.0.0.1:") {
		t.Errorf("goroutine source %q", sum.GoroutineSource)
	}
	for _, m := range []string{"rss_mib", "goroutines", "threads", "fds"} {
		if tr := trend(sum.Trends, m); tr == nil || tr.N < 4 || tr.First <= 0 {
			t.Errorf("trend %s: %+v", m, tr)
		}
	}
	if sum.Verdict != "flat" {
		t.Errorf("verdict %q with limits of a million per hour", sum.Verdict)
	}
	// The output: idle_before, samples, idle_after, summary; every sample
	// has all four server figures (this process, and the fake's pprof).
	if len(lines) != sum.Samples+3 || lines[0]["type"] != "idle_before" || lines[len(lines)-1]["type"] != "summary" {
		t.Fatalf("%d lines: first %v, last %v", len(lines), lines[0]["type"], lines[len(lines)-1]["type"])
	}
	for _, l := range lines[1 : len(lines)-2] {
		for _, k := range []string{"rss_mib", "goroutines", "threads", "fds"} {
			if v, ok := l[k].(float64); !ok || v <= 0 {
				t.Errorf("sample %v: %s = %v", l["t_s"], k, l[k])
			}
		}
	}
}

func TestSoakCountsLoss(t *testing.T) {
	// The fake keeps every 7th visitor message from the admin.
	sum, _ := soakFake(t, fakeOpts{dropAdmin: func(n int) bool { return n%7 == 0 }})
	if want := sum.Sent / 7; sum.Lost < want-1 || sum.Lost > want+1 || sum.Lost == 0 {
		t.Errorf("lost %d of %d, want about %d", sum.Lost, sum.Sent, want)
	}
	if sum.Echoed != sum.Sent {
		t.Errorf("echoes %d of %d: the visitors' side lost nothing", sum.Echoed, sum.Sent)
	}
}

func TestSoakWithoutServerFigures(t *testing.T) {
	s := fakeServer(t)
	var out, log bytes.Buffer
	o := &soakOpts{visitors: 2, rate: 10, duration: 600 * time.Millisecond, sample: 100 * time.Millisecond,
		visitorLife: time.Second, drain: time.Second, contentBytes: 20, fileBytes: 10, flatRSS: 10, flatCount: 60, out: &out, log: &log}
	o.baseURL, o.user, o.password, o.sourceIPs = s.URL, "u", "p", 1
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	if err := o.setup(); err != nil {
		t.Fatal(err)
	}
	sum, err := o.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sum.Verdict, "unknown") || len(sum.Trends) != 0 || !strings.HasPrefix(sum.GoroutineSource, "none") {
		t.Errorf("without --pid and --pprof: verdict %q, trends %v, source %q", sum.Verdict, sum.Trends, sum.GoroutineSource)
	}
	if !strings.Contains(out.String(), `"rss_mib":null`) || !strings.Contains(out.String(), `"goroutines":null`) ||
		!strings.Contains(out.String(), "no --pid") || !strings.Contains(out.String(), "no --pprof") {
		t.Errorf("samples should say what was not measured:\n%s", out.String())
	}
}
