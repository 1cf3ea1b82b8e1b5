package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics (--metrics-addr): Prometheus text on /metrics, on a listener of
// its own so it is never reachable through the public port. Every metric
// lives here; the code being measured calls one method at its call site.
// A server without --metrics-addr has a nil *metrics, and every method is
// a no-op on nil, so measuring costs nothing when nobody looks.
type metrics struct {
	reg            *prometheus.Registry
	httpRequests   *prometheus.CounterVec
	sockets        *prometheus.GaugeVec
	messagesStored prometheus.Counter
	commitBatch    prometheus.Histogram
	commitSeconds  prometheus.Histogram
	commitFailures prometheus.Counter
	// Notifications (outbox.go, push.go).
	mailSentTotal   prometheus.Counter
	mailFailedTotal prometheus.Counter
	mailGivenUp     prometheus.Counter
	pushSentTotal   prometheus.Counter
	pushFailedTotal prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" for none) and status code (101 for websocket upgrades).",
		}, []string{"route", "code"}),
		sockets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livechat_sockets_open",
			Help: "Open websockets by kind: admin_room (inboxes), admin_chat, visitor_room, visitor_chat.",
		}, []string{"kind"}),
		messagesStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_messages_stored_total",
			Help: "Messages committed to the database (repeats of a client_id not counted).",
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livechat_commit_batch_size",
			Help:    "Requests (messages, new rooms) per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 … 1024
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livechat_commit_seconds",
			Help:    "Time of one group commit: the transaction, its inserts and its fsync.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 15), // 0.25 ms … 4 s
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_commit_failures_total",
			Help: "Group commits that failed (every request in them got an error).",
		}),
		mailSentTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_mail_sent_total",
			Help: "Emails the mail server accepted.",
		}),
		mailFailedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_mail_failed_total",
			Help: "Tries to send an email that failed (a mail retried counts each time it fails).",
		}),
		mailGivenUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_mail_given_up_total",
			Help: "Emails given up for good (refused permanently, or failing for a day).",
		}),
		pushSentTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_push_sent_total",
			Help: "Web Push notifications a push service accepted.",
		}),
		pushFailedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livechat_push_failed_total",
			Help: "Web Push notifications not delivered: refused, unreachable push service, or a subscription that is gone (404/410, then deleted).",
		}),
	}
	m.reg.MustRegister(m.httpRequests, m.sockets, m.messagesStored, m.commitBatch, m.commitSeconds, m.commitFailures,
		m.mailSentTotal, m.mailFailedTotal, m.mailGivenUp, m.pushSentTotal, m.pushFailedTotal,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, k := range []string{"admin_room", "admin_chat", "visitor_room", "visitor_chat"} {
		m.sockets.WithLabelValues(k) // present at 0 from the start
	}
	return m
}

// handler serves the registry in Prometheus' text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// socketOpen counts a registered socket; call the result when it goes.
func (m *metrics) socketOpen(kind socketKind, admin bool) (closed func()) {
	if m == nil {
		return func() {}
	}
	k := "visitor_"
	if admin {
		k = "admin_"
	}
	if kind == roomSocket {
		k += "room"
	} else {
		k += "chat"
	}
	g := m.sockets.WithLabelValues(k)
	g.Inc()
	return g.Dec
}

// observeCommit records one group commit of batch, which took d.
func (m *metrics) observeCommit(batch []*commitOp, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.commitBatch.Observe(float64(len(batch)))
	m.commitSeconds.Observe(d.Seconds())
	if err != nil {
		m.commitFailures.Inc()
		return
	}
	n := 0
	for _, op := range batch {
		if op.kind == opMessage && op.err == nil && !op.dup {
			n++
		}
	}
	m.messagesStored.Add(float64(n))
}

// watchOutbox registers the outbox depth, read at each scrape by depth.
func (m *metrics) watchOutbox(depth func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "livechat_outbox_depth",
		Help: "Emails queued in the outbox, not yet accepted by the mail server (0 with mail off).",
	}, depth))
}

// mailSent counts an email the mail server accepted.
func (m *metrics) mailSent() {
	if m != nil {
		m.mailSentTotal.Inc()
	}
}

// mailFailed counts a failed try to send an email.
func (m *metrics) mailFailed() {
	if m != nil {
		m.mailFailedTotal.Inc()
	}
}

// mailGaveUp counts an email given up for good.
func (m *metrics) mailGaveUp() {
	if m != nil {
		m.mailGivenUp.Inc()
	}
}

// pushSent counts a push a push service accepted.
func (m *metrics) pushSent() {
	if m != nil {
		m.pushSentTotal.Inc()
	}
}

// pushFailed counts a push not delivered.
func (m *metrics) pushFailed() {
	if m != nil {
		m.pushFailedTotal.Inc()
	}
}

// routeKey carries the route pattern from the mux back out to instrument.
type routeKey struct{}

// routeLabel wraps the mux's fallback: it looks up the pattern the mux
// will match and leaves it for instrument. (Middleware between the two
// copies the request, so the mux's own r.Pattern does not reach out.)
func (m *metrics) routeLabel(mux *http.ServeMux, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(routeKey{}).(*string); ok {
			if _, pattern := mux.Handler(r); pattern != "" {
				*p = pattern
			}
		}
		next.ServeHTTP(w, r)
	})
}

// instrument counts every request by route and status. It is the
// outermost middleware.
func (m *metrics) instrument(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "unmatched"
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, &route))
		sw := &statusWriter{ResponseWriter: w}
		// A websocket is counted when it is upgraded, not when it ends.
		sw.hijacked = func() { m.httpRequests.WithLabelValues(route, "101").Inc() }
		defer func() {
			if sw.status == http.StatusSwitchingProtocols {
				return
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status written. It keeps the writer's other
// powers: Hijack for websockets (which assert http.Hijacker directly),
// Flush, and Unwrap for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked func()
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.status = http.StatusSwitchingProtocols
		w.hijacked()
	}
	return conn, rw, err
}

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// checkMetricsAddr refuses a metrics address other machines can reach
// unless the operator said --metrics-public.
func checkMetricsAddr(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	if public {
		return nil
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--metrics-addr %s is reachable from other machines; use a loopback address such as 127.0.0.1:9090, or add --metrics-public", addr)
	}
	return nil
}

// serveMetrics serves /metrics on cfg.MetricsAddr.
func serveMetrics(addr string, m *metrics, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go ms.Serve(ln)
	logger.Info("metrics serving", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { ms.Close() }, nil
}
