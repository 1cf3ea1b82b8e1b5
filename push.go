package main

// Browser push (Web Push: RFC 8030 delivery, RFC 8291 aes128gcm payload
// encryption, RFC 8292 VAPID), with github.com/SherClockHolmes/webpush-go.
// The server's VAPID key pair is made on first start and kept in the
// database; agents' browsers register their PushSubscription here, and
// pushToUser sends a notification to every browser of one agent.

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"
)

const (
	maxPushSubscriptions = 10           // per agent; the oldest goes first
	pushTTL              = 24 * 60 * 60 // seconds a push service keeps an undelivered push
	maxPushEndpoint      = 2048         // bytes
	pushTimeout          = 10 * time.Second
)

// pusher sends Web Push notifications.
type pusher struct {
	db       *DB
	log      *slog.Logger
	insecure bool   // --push-insecure: http:// endpoints allowed
	sub      string // the VAPID "sub": an https URL or a contact address
	// client sends the pushes; tests trust their push service with it.
	client *http.Client
	// metrics counts pushes sent and failed (nil: not measured).
	metrics *metrics

	mu              sync.Mutex
	private, public string // base64url; empty until loaded
}

// newPusher makes the pusher and the VAPID keys if the database has none
// yet. A failure here is logged; the keys are tried again on first use.
func newPusher(db *DB, cfg Config, logger *slog.Logger) *pusher {
	p := &pusher{db: db, log: logger, insecure: cfg.PushInsecure, client: &http.Client{Timeout: pushTimeout}}
	// Push services may write to the "sub" when something is wrong: an
	// https URL of the server, or the mail sender's address.
	base := publicURL(cfg)
	switch a, err := mail.ParseAddress(cfg.SMTPFrom); {
	case strings.HasPrefix(base, "https://"):
		p.sub = base
	case cfg.SMTPFrom != "" && err == nil:
		p.sub = a.Address // webpush-go adds "mailto:"
	default:
		u, _ := url.Parse(base)
		p.sub = "livechat@" + u.Hostname()
	}
	if _, _, err := p.keys(context.Background()); err != nil {
		logger.Error("push: VAPID keys", "err", err)
	}
	return p
}

// keys returns the VAPID key pair, making it on first use. INSERT OR IGNORE
// then SELECT: two servers on one file end up with the same pair.
func (p *pusher) keys(ctx context.Context) (private, public string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.public != "" {
		return p.private, p.public, nil
	}
	err = p.db.reader.QueryRowContext(ctx, "SELECT private_key, public_key FROM vapid_keys WHERE id = 1").Scan(&private, &public)
	if errors.Is(err, sql.ErrNoRows) {
		priv, pub, gerr := webpush.GenerateVAPIDKeys()
		if gerr != nil {
			return "", "", gerr
		}
		err = p.db.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO vapid_keys (id, private_key, public_key, created) VALUES (1, ?, ?, ?)", priv, pub, p.db.nowMillis()); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, "SELECT private_key, public_key FROM vapid_keys WHERE id = 1").Scan(&private, &public)
		})
	}
	if err != nil {
		return "", "", err
	}
	p.private, p.public = private, public
	return private, public, nil
}

// pushSubscription is the browser's PushSubscription.toJSON().
type pushSubscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// decodeB64URL reads base64url with or without padding (browsers send it
// unpadded; some libraries pad it).
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// validate checks a subscription: an https endpoint (http with
// --push-insecure), a P-256 public key and a 16-byte auth secret.
func (sub *pushSubscription) validate(insecure bool) map[string]string {
	errs := map[string]string{}
	u, err := url.Parse(sub.Endpoint)
	switch {
	case sub.Endpoint == "":
		errs["endpoint"] = "Required."
	case len(sub.Endpoint) > maxPushEndpoint:
		errs["endpoint"] = fmt.Sprintf("Must be at most %d characters.", maxPushEndpoint)
	case err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && !(insecure && u.Scheme == "http")):
		errs["endpoint"] = "Must be an https:// URL."
	}
	if k, err := decodeB64URL(sub.Keys.P256dh); err != nil || len(k) != 65 {
		errs["keys.p256dh"] = "Must be a base64url P-256 public key (65 bytes)."
	} else if _, err := ecdh.P256().NewPublicKey(k); err != nil {
		errs["keys.p256dh"] = "Is not a point on P-256."
	}
	if k, err := decodeB64URL(sub.Keys.Auth); err != nil || len(k) != 16 {
		errs["keys.auth"] = "Must be a base64url 16-byte secret."
	}
	return errs
}

// handlePushKey handles "GET /accounts/api/push": the VAPID public key the
// browser's pushManager.subscribe needs as applicationServerKey.
func (s *Server) handlePushKey(w http.ResponseWriter, r *http.Request, u *User) {
	_, pub, err := s.push.keys(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"public_key": pub})
}

// handlePushSubscribe handles "POST /accounts/api/push/subscriptions": the
// browser's PushSubscription JSON → 201. An endpoint already known (this
// browser, perhaps signed in as someone else before) now belongs to this
// agent; past maxPushSubscriptions the agent's oldest is dropped.
func (s *Server) handlePushSubscribe(w http.ResponseWriter, r *http.Request, u *User) {
	var sub pushSubscription
	if err := s.decodeBody(w, r, &sub); err != nil {
		s.writeError(w, r, err)
		return
	}
	if errs := sub.validate(s.cfg.PushInsecure); len(errs) > 0 {
		s.writeError(w, r, fieldErrors(errs))
		return
	}
	if err := s.db.SavePushSubscription(r.Context(), u.ID, &sub); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.pushN.any.Store(true)
	writeJSON(w, http.StatusCreated, map[string]any{"detail": "success"})
}

// handlePushUnsubscribe handles "DELETE /accounts/api/push/subscriptions"
// with {"endpoint"} → 204, whether or not it was subscribed.
func (s *Server) handlePushUnsubscribe(w http.ResponseWriter, r *http.Request, u *User) {
	var body struct {
		Endpoint string `json:"endpoint"`
	}
	if err := s.decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.Endpoint == "" {
		s.writeError(w, r, fieldErrors(map[string]string{"endpoint": "Required."}))
		return
	}
	if err := s.db.DeletePushSubscription(r.Context(), u.ID, body.Endpoint); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// SavePushSubscription stores (or takes over) a subscription for userID
// and keeps the agent's newest maxPushSubscriptions.
func (db *DB) SavePushSubscription(ctx context.Context, userID int64, sub *pushSubscription) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, created = excluded.created`,
			userID, sub.Endpoint, sub.Keys.P256dh, sub.Keys.Auth, db.nowMillis())
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE user_id = ? AND id NOT IN
			(SELECT id FROM push_subscriptions WHERE user_id = ? ORDER BY created DESC, id DESC LIMIT ?)`, userID, userID, maxPushSubscriptions)
		return err
	})
}

// DeletePushSubscription removes one of userID's subscriptions.
func (db *DB) DeletePushSubscription(ctx context.Context, userID int64, endpoint string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ?", userID, endpoint)
		return err
	})
}

// PushSubscriptions lists userID's subscriptions.
func (db *DB) PushSubscriptions(ctx context.Context, userID int64) ([]webpush.Subscription, error) {
	rows, err := db.reader.QueryContext(ctx, "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = ? ORDER BY id", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var subs []webpush.Subscription
	for rows.Next() {
		var s webpush.Subscription
		if err := rows.Scan(&s.Endpoint, &s.Keys.P256dh, &s.Keys.Auth); err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, rows.Err()
}

// PushMessage is one notification, as the service worker (static/sw.js)
// reads it.
type PushMessage struct {
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
	// URL is what a click opens: the conversation, a path on this server.
	URL string `json:"url"`
	// Tag folds notifications of one conversation into one on the device.
	Tag string `json:"tag,omitempty"`
}

// Payload limits, in characters: the encrypted record holds 3,993 bytes.
const (
	maxPushTitle = 100
	maxPushBody  = 400
)

// truncateRunes cuts s to n characters, marking the cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// pushToUser sends msg to every browser of userID, encrypted for each and
// signed with the server's VAPID key, TTL one day. A subscription the push
// service says is gone (404, 410) is deleted. It returns how many pushes
// the services accepted and the failures joined.
func (s *Server) pushToUser(ctx context.Context, userID int64, msg PushMessage) (int, error) {
	return s.push.toUser(ctx, userID, msg)
}

func (p *pusher) toUser(ctx context.Context, userID int64, msg PushMessage) (int, error) {
	subs, err := p.db.PushSubscriptions(ctx, userID)
	if err != nil || len(subs) == 0 {
		return 0, err
	}
	priv, pub, err := p.keys(ctx)
	if err != nil {
		return 0, err
	}
	msg.Title = truncateRunes(msg.Title, maxPushTitle)
	msg.Body = truncateRunes(msg.Body, maxPushBody)
	payload, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	opts := &webpush.Options{
		HTTPClient:      p.client,
		Subscriber:      p.sub,
		TTL:             pushTTL,
		Urgency:         webpush.UrgencyHigh,
		Topic:           pushTopic(msg.Tag),
		VAPIDPublicKey:  pub,
		VAPIDPrivateKey: priv,
	}
	// One agent has at most ten browsers; each push service is asked at
	// once, so a slow one does not delay the others.
	var (
		mu   sync.Mutex
		sent int
		errs []error
		wg   sync.WaitGroup
	)
	for i := range subs {
		wg.Go(func() {
			ok, err := p.send(ctx, userID, &subs[i], payload, opts)
			if ok {
				p.metrics.pushSent()
			} else {
				p.metrics.pushFailed()
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				sent++
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return sent, errors.Join(errs...)
}

// send pushes to one subscription; a gone one is deleted.
func (p *pusher) send(ctx context.Context, userID int64, sub *webpush.Subscription, payload []byte, opts *webpush.Options) (bool, error) {
	// webpush-go pads by appending to the slice it is given: each send
	// gets its own copy, or concurrent sends would write into one array.
	resp, err := webpush.SendNotificationWithContext(ctx, bytes.Clone(payload), sub, opts)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the whole endpoint, a secret
		}
		return false, fmt.Errorf("push to %s: %w", endpointOrigin(sub.Endpoint), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		// The browser unsubscribed or the subscription expired.
		return false, p.db.DeletePushSubscription(ctx, userID, sub.Endpoint)
	default:
		return false, fmt.Errorf("push to %s: %s %s", endpointOrigin(sub.Endpoint), resp.Status, bytes.TrimSpace(body))
	}
}

// pushTopic makes a Topic header (RFC 8030 5.4: at most 32 base64url
// characters) from a tag, so a newer push of one conversation replaces an
// undelivered older one at the push service.
func pushTopic(tag string) string {
	if tag == "" {
		return ""
	}
	t := base64.RawURLEncoding.EncodeToString([]byte(tag))
	if len(t) > 32 {
		return ""
	}
	return t
}

// endpointOrigin is the push service's origin, for logs: the rest of the
// endpoint is a capability URL.
func endpointOrigin(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// cspServiceWorker is the worker's own policy: a worker is governed by the
// CSP of its script's response, and showNotification loads the icon under
// img-src (the API policy, default-src 'none', blocked it).
const cspServiceWorker = "default-src 'none'; img-src 'self'; frame-ancestors 'none'"

// handleServiceWorker handles "GET /sw.js", static/sw.js served from the
// root so that its scope covers the inbox.
func (s *Server) handleServiceWorker(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", cspServiceWorker)
	serveAsset(w, r, staticFiles.assets["/static/sw.js"], "no-cache")
}
