package main

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Rate limits: the per-socket message and chatter limits, and the login
// throttle. Both count events in a sliding window.

// slidingWindow is the one rate-limit counter: the times of the last
// limit recorded events, in a ring allocated on first use. An event is
// accepted when fewer than limit were recorded in the last window. (A
// fixed window would let 2×limit through around its edge.)
type slidingWindow struct {
	times []time.Time
	next  int // the oldest entry
}

// wait is how long until the window has room again: 0 when it has now.
func (w *slidingWindow) wait(window time.Duration, now time.Time) time.Duration {
	if w.times == nil {
		return 0
	}
	if oldest := w.times[w.next]; !oldest.IsZero() {
		if d := oldest.Add(window).Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// record counts an event at now, accepted or not.
func (w *slidingWindow) record(limit int, now time.Time) {
	if w.times == nil {
		w.times = make([]time.Time, limit)
	}
	w.times[w.next] = now
	w.next = (w.next + 1) % len(w.times)
}

// take records an event at now if the window has room, and reports
// whether it had.
func (w *slidingWindow) take(limit int, window time.Duration, now time.Time) bool {
	if w.wait(window, now) > 0 {
		return false
	}
	w.record(limit, now)
	return true
}

// idle reports whether every recorded event has left the window.
func (w *slidingWindow) idle(window time.Duration, now time.Time) bool {
	if w.times == nil {
		return true
	}
	newest := w.times[(w.next+len(w.times)-1)%len(w.times)]
	return newest.IsZero() || now.Sub(newest) >= window
}

// allow applies the per-socket message rate limit: at most RateMessages
// in any RateWindow. It returns false when the message is refused; close
// reports that the socket has been refused RateStrikes times in a row and
// is to be closed.
func (s *Server) allow(c *client) (ok, close bool) {
	if s.cfg.RateMessages <= 0 {
		return true, false
	}
	if !c.rate.take(s.cfg.RateMessages, s.cfg.RateWindow, time.Now()) {
		c.strikes++
		return false, s.cfg.RateStrikes > 0 && c.strikes >= s.cfg.RateStrikes
	}
	c.strikes = 0
	return true, false
}

// allowChatter limits what is neither stored nor counted as a message but
// still costs the other side or the database: typing frames (relayed to
// every admin socket of the account) and fetch_messages. Without it one
// anonymous visitor could fill the admin's outgoing queue with typing
// frames until the inbox socket is closed for being slow. At most
// RateChatter per RateWindow on a visitor's socket; <= 0 lifts it. The
// admin, signed in, is not limited.
func (s *Server) allowChatter(c *client) bool {
	return c.admin || s.cfg.RateChatter <= 0 || c.chatter.take(s.cfg.RateChatter, s.cfg.RateWindow, time.Now())
}

// limited applies the rate limit to a command that stores something
// (new_message, and new_room on a visitor's room socket): a refused one is
// answered rate_limited, or the socket is kicked (1008) after RateStrikes
// refusals in a row. It reports whether the command is refused and
// whether the socket stays open.
func (s *Server) limited(c *client) (refused, open bool) {
	ok, closeIt := s.allow(c)
	if closeIt {
		c.kick(websocket.StatusPolicyViolation, "rate limit exceeded")
		return true, false
	}
	if !ok {
		c.fail(codeRateLimited, "Too many messages; wait a moment.")
		return true, true
	}
	return false, true
}

// loginThrottle counts failed logins per key (a username or a client
// address) in a sliding window. It lives in memory: a restart forgets the
// counts, which costs an attacker nothing they could not get by waiting.
type loginThrottle struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string]*slidingWindow
	sweeps   int
}

func newLoginThrottle(limit int, window time.Duration, now func() time.Time) *loginThrottle {
	return &loginThrottle{limit: limit, window: window, now: now, failures: map[string]*slidingWindow{}}
}

// blocked returns how long until the most throttled of keys may try again,
// or 0 when none is over the limit.
func (t *loginThrottle) blocked(keys ...string) time.Duration {
	if t.limit <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		// Free again when the oldest failure that keeps it at the limit
		// leaves the window.
		if w := t.failures[k]; w != nil {
			wait = max(wait, w.wait(t.window, now))
		}
	}
	return wait
}

// fail records a failed attempt against every key.
func (t *loginThrottle) fail(keys ...string) {
	if t.limit <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		w := t.failures[k]
		if w == nil {
			w = &slidingWindow{}
			t.failures[k] = w
		}
		w.record(t.limit, now)
	}
	// Now and then drop keys whose failures have all expired, so the map
	// does not grow with every address that ever mistyped.
	if t.sweeps++; t.sweeps%1000 == 0 {
		for k, w := range t.failures {
			if w.idle(t.window, now) {
				delete(t.failures, k)
			}
		}
	}
}

// reset forgets a key's failures (a successful login for that username).
func (t *loginThrottle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}

// limitAddr is the client address the per-address limits count against:
// clientAddr's, except that an IPv6 address counts as its /64, the block a
// single subscriber usually gets and can pick any address from.
func (s *Server) limitAddr(r *http.Request) string {
	addr := s.clientAddr(r)
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// addrLimits are the limits per client address (limitAddr): sliding
// windows for what may happen N times per window (new rooms, uploads) and
// counts of what may be held N at once (open sockets, uploads in flight).
// Keys are "<what>:<address>". Like the login throttle it lives in memory.
type addrLimits struct {
	now func() time.Time

	mu      sync.Mutex
	windows map[string]*slidingWindow
	held    map[string]int
	sweeps  int
}

func newAddrLimits(now func() time.Time) *addrLimits {
	return &addrLimits{now: now, windows: map[string]*slidingWindow{}, held: map[string]int{}}
}

// take records an event for key if fewer than limit happened in the last
// window, and returns 0; else it records nothing and returns how long
// until there is room. limit <= 0 lifts the limit.
func (l *addrLimits) take(key string, limit int, window time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.windows[key]
	if w == nil {
		w = &slidingWindow{}
		l.windows[key] = w
	}
	if wait := w.wait(window, now); wait > 0 {
		return wait
	}
	w.record(limit, now)
	// Now and then drop windows that have emptied, so the map does not
	// grow with every address that ever came by. (A window longer than
	// this one under another key is dropped only when it has emptied
	// by this window's measure; keys differ per limit, so each key is
	// always swept with its own window.)
	if l.sweeps++; l.sweeps%1000 == 0 {
		for k, w := range l.windows {
			if w.idle(window, now) && strings.HasPrefix(k, key[:strings.IndexByte(key, ':')+1]) {
				delete(l.windows, k)
			}
		}
	}
	return 0
}

// acquire takes one of limit slots for key and reports whether there was
// one; release gives it back. limit <= 0 lifts the limit (release is then
// a no-op, as nothing was counted).
func (l *addrLimits) acquire(key string, limit int) (release func(), ok bool) {
	if limit <= 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] >= limit {
		return nil, false
	}
	l.held[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.held[key]--; l.held[key] <= 0 {
				delete(l.held, key)
			}
		})
	}, true
}

// onceEvery allows one action per key per every: a test email per account,
// a transcript email per room. A zero value needs every set.
type onceEvery struct {
	every time.Duration
	mu    sync.Mutex
	last  map[int64]time.Time
}

// take records the action for key now, or returns how long until one is
// allowed.
func (l *onceEvery) take(key int64, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[int64]time.Time{}
	}
	if prev, ok := l.last[key]; ok && now.Sub(prev) < l.every {
		return l.every - now.Sub(prev)
	}
	for k, t := range l.last { // keep the map small
		if now.Sub(t) >= l.every {
			delete(l.last, k)
		}
	}
	l.last[key] = now
	return 0
}

// forget undoes a take whose action could not be done.
func (l *onceEvery) forget(key int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, key)
}
