package main

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// withMetrics turns metrics on for a test server.
func withMetrics(c *Config) { c.MetricsAddr = "127.0.0.1:0" }

// mailServerWith is mailServer with more config.
func mailServerWith(t *testing.T, st *smtpTestServer, opts ...func(*Config)) *testServer {
	t.Helper()
	ts := newTestServerAt(t, filepath.Join(t.TempDir(), "livechat.db"), append([]func(*Config){func(c *Config) {
		c.SMTP = st.URL(false)
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.PublicURL = "https://chat.acme.example"
	}}, opts...)...)
	tuneOutbox(ts.Server.outbox, st.Client)
	return ts
}

// TestMetricsMail: with the real SMTP test server, /metrics shows the
// outbox depth while mail waits, mails sent, failed tries (a 451 counted
// each time) and mails given up (a 550).
func TestMetricsMail(t *testing.T) {
	st := startSMTP(t, false, "")
	hold := make(chan struct{})
	st.refuse = func(n int) error {
		if n == 1 {
			<-hold // the first mail waits at DATA while we look at the depth
		}
		if n == 2 || n == 3 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}
	ts := mailServerWith(t, st, withMetrics)
	h := ts.Server.metrics.handler()
	if m := scrape(t, h); m["livechat_outbox_depth"] != 0 || m["livechat_mail_sent_total"] != 0 {
		t.Fatalf("before any mail: depth %v sent %v", m["livechat_outbox_depth"], m["livechat_mail_sent_total"])
	}
	enqueue(t, ts, sampleMail(1))
	enqueue(t, ts, sampleMail(1))
	waitFor(t, "the first mail at DATA", func() bool { return st.Attempts() >= 1 })
	if m := scrape(t, h); m["livechat_outbox_depth"] != 2 {
		t.Errorf("outbox depth %v with two mails queued, want 2", m["livechat_outbox_depth"])
	}
	close(hold)
	st.waitReceived(2, 10*time.Second, 300*time.Millisecond)
	waitFor(t, "the queue to empty", func() bool { return scrape(t, h)["livechat_outbox_depth"] == 0 })
	m := scrape(t, h)
	if m["livechat_mail_sent_total"] != 2 || m["livechat_mail_failed_total"] != 2 || m["livechat_mail_given_up_total"] != 0 {
		t.Errorf("sent %v failed %v given up %v, want 2, 2 (two 451s), 0",
			m["livechat_mail_sent_total"], m["livechat_mail_failed_total"], m["livechat_mail_given_up_total"])
	}

	// A permanent refusal: one failed try, one given up.
	st.mu.Lock()
	st.rcptErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	st.mu.Unlock()
	enqueue(t, ts, sampleMail(1))
	waitFor(t, "the mail given up", func() bool {
		f, _ := ts.DB.LastMailFailure(context.Background(), 1)
		return f != nil
	})
	m = scrape(t, h)
	if m["livechat_mail_sent_total"] != 2 || m["livechat_mail_failed_total"] != 3 || m["livechat_mail_given_up_total"] != 1 || m["livechat_outbox_depth"] != 0 {
		t.Errorf("after a 550: sent %v failed %v given up %v depth %v, want 2, 3, 1, 0",
			m["livechat_mail_sent_total"], m["livechat_mail_failed_total"], m["livechat_mail_given_up_total"], m["livechat_outbox_depth"])
	}
}

// TestMetricsPush: with the real push test service, pushes accepted and
// not delivered (gone, expired, a 500) are counted.
func TestMetricsPush(t *testing.T) {
	ps := newPushService(t)
	ts, c, uid := pushServer(t, ps, "", withMetrics)
	for _, p := range []string{"/push/phone", "/push/laptop", "/push/gone", "/push/broken"} {
		c.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser(p).sub)
	}
	ps.mu.Lock()
	ps.status["/push/gone"] = http.StatusGone
	ps.status["/push/broken"] = http.StatusInternalServerError
	ps.mu.Unlock()
	h := ts.Server.metrics.handler()
	if m := scrape(t, h); m["livechat_push_sent_total"] != 0 || m["livechat_push_failed_total"] != 0 {
		t.Fatalf("before any push: %v %v", m["livechat_push_sent_total"], m["livechat_push_failed_total"])
	}
	msg := PushMessage{Title: "New message", Body: "Hello", URL: "/messages"}
	if sent, _ := ts.Server.pushToUser(context.Background(), uid, msg); sent != 2 {
		t.Fatalf("sent %d, want 2", sent)
	}
	m := scrape(t, h)
	if m["livechat_push_sent_total"] != 2 || m["livechat_push_failed_total"] != 2 {
		t.Errorf("push sent %v failed %v, want 2 and 2", m["livechat_push_sent_total"], m["livechat_push_failed_total"])
	}
	// The gone subscription was deleted: the next push fails only on the 500.
	ts.Server.pushToUser(context.Background(), uid, msg)
	m = scrape(t, h)
	if m["livechat_push_sent_total"] != 4 || m["livechat_push_failed_total"] != 3 {
		t.Errorf("second push: sent %v failed %v, want 4 and 3", m["livechat_push_sent_total"], m["livechat_push_failed_total"])
	}
}
