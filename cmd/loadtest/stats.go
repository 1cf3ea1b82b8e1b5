package main

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Summary is a latency distribution in milliseconds, as reported.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 for an empty slice: the smallest value with at least p% of
// the samples at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// summarize sorts d in place and summarizes it.
func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Summary{
		N:    len(d),
		Mean: ms(sum / time.Duration(len(d))),
		P50:  ms(percentile(d, 50)),
		P90:  ms(percentile(d, 90)),
		P99:  ms(percentile(d, 99)),
		P999: ms(percentile(d, 99.9)),
		Max:  ms(d[len(d)-1]),
	}
}

// ms is d in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// seqSet records which sequence numbers of one sender were seen; it is
// owned by one goroutine.
type seqSet struct {
	bits []uint64
	n    int
}

// add marks seq seen and reports whether it was new.
func (s *seqSet) add(seq int) bool {
	w := seq / 64
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits)+len(s.bits)/2)...)
	}
	m := uint64(1) << (seq % 64)
	if s.bits[w]&m != 0 {
		return false
	}
	s.bits[w] |= m
	s.n++
	return true
}

// clientID is the client_id the tool gives a message: "L<visitor>.<seq>.<t>",
// t being nanoseconds after the run's base time (the scheduled send time in
// open loop, the actual one in closed loop). The admin socket computes
// latency from it alone, with no shared state.
func appendClientID(b []byte, visitor, seq int, t time.Duration) []byte {
	b = append(b, 'L')
	b = appendInt(b, int64(visitor))
	b = append(b, '.')
	b = appendInt(b, int64(seq))
	b = append(b, '.')
	return appendInt(b, int64(t))
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// parseClientID is the inverse of appendClientID.
func parseClientID(s []byte) (visitor, seq int, t time.Duration, ok bool) {
	if len(s) < 6 || s[0] != 'L' {
		return 0, 0, 0, false
	}
	var f [3]int64
	i := 1
	for k := 0; k < 3; k++ {
		start := i
		neg := false
		if k == 2 && i < len(s) && s[i] == '-' {
			neg = true
			i++
			start = i
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			f[k] = f[k]*10 + int64(s[i]-'0')
			i++
		}
		if i == start {
			return 0, 0, 0, false
		}
		if neg {
			f[k] = -f[k]
		}
		if k < 2 {
			if i >= len(s) || s[i] != '.' {
				return 0, 0, 0, false
			}
			i++
		}
	}
	if i != len(s) {
		return 0, 0, 0, false
	}
	return int(f[0]), int(f[1]), time.Duration(f[2]), true
}

// secondStat is the latency of the messages due in one second.
type secondStat struct {
	Second  int     `json:"s"`
	N       int     `json:"n"`
	MaxMs   float64 `json:"max_ms"`
	Over5ms int     `json:"over_5ms"`
}

// worstSeconds returns the k seconds with the highest max latency, in time order.
func worstSeconds(all []secondStat, k int) []secondStat {
	s := slices.Clone(all)
	slices.SortFunc(s, func(a, b secondStat) int { return cmp.Compare(b.MaxMs, a.MaxMs) })
	s = s[:min(k, len(s))]
	slices.SortFunc(s, func(a, b secondStat) int { return a.Second - b.Second })
	return s
}
