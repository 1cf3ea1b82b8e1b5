package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 50 * time.Millisecond},
		{90, 90 * time.Millisecond},
		{99, 99 * time.Millisecond},
		{99.9, 100 * time.Millisecond},
		{100, 100 * time.Millisecond},
		{0.1, 1 * time.Millisecond},
	} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("percentile(1..100ms, %v)=%v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("percentile(nil)=%v, want 0", got)
	}
	if got, want := percentile([]time.Duration{7}, 99), time.Duration(7); got != want {
		t.Errorf("percentile([7])=%v, want %v", got, want)
	}
}

func TestSummarize(t *testing.T) {
	d := []time.Duration{3 * time.Millisecond, 1 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	s := summarize(d)
	if s.N != 4 || s.P50 != 2 || s.Max != 4 || s.Mean != 2.5 {
		t.Errorf("summarize=%+v, want n=4 p50=2 max=4 mean=2.5", s)
	}
}

func TestClientIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		v, seq int
		t      time.Duration
	}{{0, 0, 0}, {18999, 123456, 61 * time.Second}, {5, 7, -3}} {
		b := appendClientID(nil, tc.v, tc.seq, tc.t)
		v, seq, tt, ok := parseClientID(b)
		if !ok || v != tc.v || seq != tc.seq || tt != tc.t {
			t.Errorf("parseClientID(%q)=%d,%d,%v,%v want %d,%d,%v", b, v, seq, tt, ok, tc.v, tc.seq, tc.t)
		}
	}
	for _, bad := range []string{"", "L1.2", "X1.2.3", "L1.2.3x", "L.1.2"} {
		if _, _, _, ok := parseClientID([]byte(bad)); ok {
			t.Errorf("parseClientID(%q) ok, want not", bad)
		}
	}
}

func TestSeqSet(t *testing.T) {
	var s seqSet
	for _, seq := range []int{0, 5, 64, 1000, 5} {
		s.add(seq)
	}
	if s.n != 4 {
		t.Errorf("n=%d, want 4", s.n)
	}
	if s.add(1000) {
		t.Error("add(1000) twice reported new")
	}
}

func TestFrameField(t *testing.T) {
	f := []byte(`{"command":"new_message","message":{"id":3,"author":"x","content":"a\"b","client_id":"L1.2.3","room":"u c"}}`)
	if got := string(jsonStringField(f, `"command":"`)); got != "new_message" {
		t.Errorf("command=%q", got)
	}
	if got := string(jsonStringField(f, `"client_id":"`)); got != "L1.2.3" {
		t.Errorf("client_id=%q", got)
	}
	if got := jsonStringField(f, `"nope":"`); got != nil {
		t.Errorf("nope=%q", got)
	}
}
