package main

import (
	"sync"
	"time"
)

// loginThrottle counts failed logins per key (a username or a client
// address) in a sliding window. It lives in memory: a restart forgets the
// counts, which costs an attacker nothing they could not get by waiting.
type loginThrottle struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
	sweeps   int
}

func newLoginThrottle(limit int, window time.Duration, now func() time.Time) *loginThrottle {
	return &loginThrottle{limit: limit, window: window, now: now, failures: map[string][]time.Time{}}
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
		fs := t.prune(k, now)
		if len(fs) >= t.limit {
			// Free again when the oldest failure that keeps it at the
			// limit leaves the window.
			if d := fs[len(fs)-t.limit].Add(t.window).Sub(now); d > wait {
				wait = d
			}
		}
	}
	return wait
}

// fail records a failed attempt against every key.
func (t *loginThrottle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		t.failures[k] = append(t.prune(k, now), now)
	}
	// Now and then drop keys whose failures have all expired, so the map
	// does not grow with every address that ever mistyped.
	if t.sweeps++; t.sweeps%1000 == 0 {
		for k := range t.failures {
			if len(t.prune(k, now)) == 0 {
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

// prune drops failures older than the window; t.mu is held.
func (t *loginThrottle) prune(key string, now time.Time) []time.Time {
	fs := t.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= t.window {
		i++
	}
	if i > 0 {
		fs = append(fs[:0], fs[i:]...)
		if len(fs) == 0 {
			delete(t.failures, key)
			return nil
		}
		t.failures[key] = fs
	}
	return fs
}
