package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// pushService is a Web Push service for tests: an HTTPS server that
// checks each push's VAPID JWT (RFC 8292) against the application
// server's public key and decrypts its aes128gcm payload (RFC 8291) with
// the subscription's private key, as a browser's push service and the
// browser together would.
type pushService struct {
	t   *testing.T
	srv *httptest.Server
	// vapidKey is the server's public key (GET /accounts/api/push).
	vapidKey string

	mu       sync.Mutex
	subs     map[string]*testBrowser // by endpoint path
	status   map[string]int          // answer per endpoint path; 201 when absent
	received []pushReceived
	problems []string
}

// testBrowser is one browser's subscription: its keys, as the browser
// keeps them.
type testBrowser struct {
	priv *ecdh.PrivateKey
	auth []byte
	sub  map[string]any // the PushSubscription JSON
}

type pushReceived struct {
	Path    string
	Message PushMessage
	TTL     string
	Urgency string
}

func newPushService(t *testing.T) *pushService {
	ps := &pushService{t: t, subs: map[string]*testBrowser{}, status: map[string]int{}}
	ps.srv = httptest.NewTLSServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.srv.Close)
	return ps
}

// browser makes a subscription at the endpoint path.
func (ps *pushService) browser(path string) *testBrowser {
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		ps.t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	b := &testBrowser{priv: priv, auth: auth, sub: map[string]any{
		"endpoint":       ps.srv.URL + path,
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(auth),
		},
	}}
	ps.mu.Lock()
	ps.subs[path] = b
	ps.mu.Unlock()
	return b
}

func (ps *pushService) problem(format string, args ...any) {
	ps.mu.Lock()
	ps.problems = append(ps.problems, fmt.Sprintf(format, args...))
	ps.mu.Unlock()
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ps.mu.Lock()
	b := ps.subs[r.URL.Path]
	status, ok := ps.status[r.URL.Path]
	vapidKey := ps.vapidKey
	ps.mu.Unlock()
	if !ok {
		status = http.StatusCreated
	}
	if r.Method != http.MethodPost || b == nil {
		ps.problem("%s %s: unknown subscription", r.Method, r.URL.Path)
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	if err := checkVAPID(r.Header.Get("Authorization"), vapidKey, ps.srv.URL); err != nil {
		ps.problem("%s: VAPID: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		ps.problem("%s: Content-Encoding %q", r.URL.Path, ce)
	}
	plain, err := decryptPush(body, b.priv, b.auth)
	if err != nil {
		ps.problem("%s: decrypt: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m PushMessage
	if err := json.Unmarshal(plain, &m); err != nil {
		ps.problem("%s: payload %q: %v", r.URL.Path, plain, err)
	}
	ps.mu.Lock()
	ps.received = append(ps.received, pushReceived{Path: r.URL.Path, Message: m, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency")})
	ps.mu.Unlock()
	w.WriteHeader(status)
}

func (ps *pushService) Received() []pushReceived {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.problems {
		ps.t.Error("push service: " + p)
	}
	ps.problems = nil
	return append([]pushReceived(nil), ps.received...)
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>": k is the server's key,
// the JWT is ES256-signed by it, for this push service's origin, not
// expired and valid for at most 24 h, with a contact in "sub".
func checkVAPID(header, wantKey, origin string) error {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return fmt.Errorf("authorization %q is not vapid", header)
	}
	var tok, key string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			tok = v
		case "k":
			key = v
		}
	}
	if key != wantKey {
		return fmt.Errorf("k=%q, not the server's public key %q", key, wantKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return err
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("JWT %q has %d parts", tok, len(parts))
	}
	var hdr struct{ Alg, Typ string }
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &hdr) != nil || hdr.Alg != "ES256" {
		return fmt.Errorf("JWT header %q", parts[0])
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("JWT signature of %d bytes", len(sig))
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return fmt.Errorf("JWT signature does not verify with the server's key")
	}
	var claims struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(b, &claims); err != nil {
		return err
	}
	now := time.Now().Unix()
	switch {
	case claims.Aud != origin:
		return fmt.Errorf("aud %q, want %q", claims.Aud, origin)
	case claims.Exp <= now || claims.Exp > now+24*3600:
		return fmt.Errorf("exp %d is not within 24 h from now (%d)", claims.Exp, now)
	case !strings.HasPrefix(claims.Sub, "mailto:") && !strings.HasPrefix(claims.Sub, "https://"):
		return fmt.Errorf("sub %q is not a mailto: or https: contact", claims.Sub)
	}
	return nil
}

// decryptPush undoes RFC 8291 (Web Push message encryption) over RFC
// 8188's aes128gcm content coding, as the browser does with its private
// key and auth secret.
func decryptPush(body []byte, uaPriv *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, fmt.Errorf("body of %d bytes has no aes128gcm header", len(body))
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if len(body) < 21+idlen || idlen != 65 {
		return nil, fmt.Errorf("keyid of %d bytes, want the 65-byte sender key", idlen)
	}
	asPubBytes := body[21 : 21+idlen]
	ciphertext := body[21+idlen:]
	if uint32(len(ciphertext)) > rs {
		return nil, fmt.Errorf("more than one record (%d > rs %d)", len(ciphertext), rs)
	}
	asPub, err := ecdh.P256().NewPublicKey(asPubBytes)
	if err != nil {
		return nil, err
	}
	shared, err := uaPriv.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	// IKM = HKDF(salt=auth_secret, ikm=ecdh_secret, info="WebPush: info\0"||ua_public||as_public, 32)
	keyInfo := "WebPush: info\x00" + string(uaPriv.PublicKey().Bytes()) + string(asPubBytes)
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, err
	}
	// The last (only) record ends with 0x02 then zero padding.
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 0x02 {
		return nil, fmt.Errorf("no final-record delimiter")
	}
	return plain[:len(plain)-1], nil
}

// pushServer is a test server whose pushes go to ps (its TLS certificate
// trusted), signed in as an agent.
func pushServer(t *testing.T, ps *pushService, path string, opts ...func(*Config)) (*testServer, *testClient, int64) {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "livechat.db")
	}
	ts := newTestServerAt(t, path, opts...)
	ts.Server.push.client = ps.srv.Client()
	c := ts.client()
	c.signup("agent1")
	key := c.must(200, "GET", "/accounts/api/push", nil).JSON["public_key"].(string)
	ps.mu.Lock()
	ps.vapidKey = key
	ps.mu.Unlock()
	u, err := ts.DB.UserByName(context.Background(), "agent1")
	if err != nil {
		t.Fatal(err)
	}
	return ts, c, u.ID
}

// TestPushKeys: the VAPID public key is a P-256 point, made once and kept
// in the database across restarts; only agents may read it.
func TestPushKeys(t *testing.T) {
	ps := newPushService(t)
	path := filepath.Join(t.TempDir(), "livechat.db")
	ts, c, _ := pushServer(t, ps, path)
	if r := ts.client().do("GET", "/accounts/api/push", nil); r.Status != 401 {
		t.Errorf("signed out: %d", r.Status)
	}
	key := c.must(200, "GET", "/accounts/api/push", nil).JSON["public_key"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(raw) != 65 {
		t.Fatalf("public_key %q: %d bytes, %v", key, len(raw), err)
	}
	if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw); err != nil {
		t.Fatalf("public_key is not a P-256 point: %v", err)
	}
	ts.Close()
	ts2 := newTestServerAt(t, path)
	c2 := ts2.client()
	c2.must(200, "POST", "/accounts/api/login", map[string]string{"username": "agent1", "password": testPassword})
	if again := c2.must(200, "GET", "/accounts/api/push", nil).JSON["public_key"]; again != key {
		t.Errorf("key changed across a restart: %q then %q", key, again)
	}
}

// TestPushSubscriptionsAPI: bad subscriptions are refused field by field
// and change nothing; a good one is 201 (again: still one); past ten the
// oldest goes; DELETE is 204 and touches only the agent's own.
func TestPushSubscriptionsAPI(t *testing.T) {
	ps := newPushService(t)
	ts, c, uid := pushServer(t, ps, "")
	ctx := context.Background()
	count := func(id int64) int {
		subs, err := ts.DB.PushSubscriptions(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(subs)
	}
	good := ps.browser("/push/good").sub
	with := func(change func(m map[string]any)) map[string]any {
		b, _ := json.Marshal(good)
		var m map[string]any
		json.Unmarshal(b, &m)
		change(m)
		return m
	}
	keys := func(m map[string]any) map[string]any { return m["keys"].(map[string]any) }
	offCurve := append([]byte{4}, bytes.Repeat([]byte{1}, 64)...)
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{with(func(m map[string]any) { delete(m, "endpoint") }), "endpoint"},
		{with(func(m map[string]any) { m["endpoint"] = strings.Replace(ps.srv.URL, "https", "http", 1) + "/push/x" }), "endpoint"},
		{with(func(m map[string]any) { m["endpoint"] = "https:///nohost" }), "endpoint"},
		{with(func(m map[string]any) { m["endpoint"] = "https://push.example/" + strings.Repeat("a", 2100) }), "endpoint"},
		{with(func(m map[string]any) { keys(m)["p256dh"] = "AAAA" }), "keys.p256dh"},
		{with(func(m map[string]any) { keys(m)["p256dh"] = base64.RawURLEncoding.EncodeToString(offCurve) }), "keys.p256dh"},
		{with(func(m map[string]any) { keys(m)["auth"] = "not base64!" }), "keys.auth"},
		{with(func(m map[string]any) { keys(m)["auth"] = base64.RawURLEncoding.EncodeToString(make([]byte, 8)) }), "keys.auth"},
	} {
		r := c.do("POST", "/accounts/api/push/subscriptions", bad.body)
		if r.Status != 400 || r.FieldError(bad.field) == "" {
			t.Errorf("%v: %d %s, want 400 with an error for %s", bad.body, r.Status, r.Body, bad.field)
		}
	}
	if n := count(uid); n != 0 {
		t.Fatalf("%d subscriptions stored from bad requests", n)
	}
	if r := ts.client().do("POST", "/accounts/api/push/subscriptions", good); r.Status != 401 {
		t.Errorf("signed out: %d", r.Status)
	}
	c.must(201, "POST", "/accounts/api/push/subscriptions", good)
	c.must(201, "POST", "/accounts/api/push/subscriptions", good)
	if n := count(uid); n != 1 {
		t.Fatalf("the same endpoint twice: %d subscriptions", n)
	}
	// Padded base64url, as some libraries send it, is accepted too.
	padded := ps.browser("/push/padded").sub
	padded["keys"].(map[string]string)["auth"] += "=="
	c.must(201, "POST", "/accounts/api/push/subscriptions", padded)

	// Ten at most: the oldest goes.
	for i := 0; i < 10; i++ {
		ts.clock.Advance(time.Millisecond)
		c.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser(fmt.Sprintf("/push/n%d", i)).sub)
	}
	subs, _ := ts.DB.PushSubscriptions(ctx, uid)
	if len(subs) != 10 {
		t.Fatalf("%d subscriptions, want 10", len(subs))
	}
	for _, s := range subs {
		if strings.HasSuffix(s.Endpoint, "/push/good") || strings.HasSuffix(s.Endpoint, "/push/padded") {
			t.Errorf("the oldest subscription %s was kept", s.Endpoint)
		}
	}

	// Another agent cannot remove it; the owner can, and again is 204.
	other := ts.client()
	other.signup("agent2")
	endpoint := ps.srv.URL + "/push/n3"
	other.must(204, "DELETE", "/accounts/api/push/subscriptions", map[string]string{"endpoint": endpoint})
	if n := count(uid); n != 10 {
		t.Fatalf("another agent's DELETE removed a subscription: %d left", n)
	}
	c.must(204, "DELETE", "/accounts/api/push/subscriptions", map[string]string{"endpoint": endpoint})
	c.must(204, "DELETE", "/accounts/api/push/subscriptions", map[string]string{"endpoint": endpoint})
	if n := count(uid); n != 9 {
		t.Fatalf("after DELETE: %d subscriptions, want 9", n)
	}
	if r := c.do("DELETE", "/accounts/api/push/subscriptions", map[string]string{}); r.Status != 400 || r.FieldError("endpoint") == "" {
		t.Errorf("DELETE without endpoint: %d %s", r.Status, r.Body)
	}
	// The same browser signed in as agent2 takes the subscription over.
	other.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser("/push/n5").sub)
	if n := count(uid); n != 8 {
		t.Errorf("agent1 still has the browser agent2 subscribed: %d", n)
	}
}

// TestPushInsecureEndpoints: http:// endpoints only with --push-insecure.
func TestPushInsecureEndpoints(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	sub := map[string]any{"endpoint": plain.URL + "/push/1", "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(mustECDHKey(t).PublicKey().Bytes()),
		"auth":   base64.RawURLEncoding.EncodeToString(make([]byte, 16)),
	}}
	ps := newPushService(t)
	_, c, _ := pushServer(t, ps, "")
	if r := c.do("POST", "/accounts/api/push/subscriptions", sub); r.Status != 400 || r.FieldError("endpoint") == "" {
		t.Errorf("http endpoint by default: %d %s", r.Status, r.Body)
	}
	_, c2, _ := pushServer(t, ps, "", func(c *Config) { c.PushInsecure = true })
	c2.must(201, "POST", "/accounts/api/push/subscriptions", sub)
}

func mustECDHKey(t *testing.T) *ecdh.PrivateKey {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPushToUser: every browser of the agent gets the notification,
// signed and encrypted so that only it can read the title and link, TTL one
// day; a subscription the service calls gone (404, 410) is deleted, one
// that fails otherwise is kept and reported.
func TestPushToUser(t *testing.T) {
	ps := newPushService(t)
	ts, c, uid := pushServer(t, ps, "")
	for _, p := range []string{"/push/phone", "/push/laptop", "/push/gone", "/push/expired", "/push/broken"} {
		c.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser(p).sub)
	}
	ps.status["/push/gone"] = http.StatusGone
	ps.status["/push/expired"] = http.StatusNotFound
	ps.status["/push/broken"] = http.StatusInternalServerError
	other := ts.client()
	other.signup("agent2")
	other.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser("/push/agent2").sub)

	ctx := context.Background()
	msg := PushMessage{Title: "New message from Vera", Body: "<b>Hello</b> — is anyone there?", URL: "/messages#c=vera", Tag: "room-1"}
	sent, err := ts.Server.pushToUser(ctx, uid, msg)
	if sent != 2 {
		t.Errorf("sent %d, want 2 (phone, laptop)", sent)
	}
	if err == nil || !strings.Contains(err.Error(), "500") || strings.Contains(err.Error(), "/push/broken") {
		t.Errorf("error %v: want the 500, without the endpoint's secret path", err)
	}
	got := ps.Received()
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.Path] = true
		if r.Message != msg {
			t.Errorf("%s decrypted %+v, want %+v", r.Path, r.Message, msg)
		}
		if r.TTL != "86400" || r.Urgency != "high" {
			t.Errorf("%s: TTL %q Urgency %q", r.Path, r.TTL, r.Urgency)
		}
	}
	for _, p := range []string{"/push/phone", "/push/laptop", "/push/gone", "/push/expired", "/push/broken"} {
		if !seen[p] {
			t.Errorf("%s got nothing", p)
		}
	}
	if seen["/push/agent2"] {
		t.Error("another agent's browser got the push")
	}
	subs, _ := ts.DB.PushSubscriptions(ctx, uid)
	var left []string
	for _, s := range subs {
		left = append(left, s.Endpoint[strings.LastIndex(s.Endpoint, "/"):])
	}
	if strings.Join(left, ",") != "/phone,/laptop,/broken" {
		t.Errorf("subscriptions left %v, want phone, laptop, broken (gone and expired deleted)", left)
	}

	// Long text is cut to fit the 4 KB record, still decryptable.
	long := PushMessage{Title: strings.Repeat("T", 300), Body: strings.Repeat("é", 3000), URL: "/messages#c=vera"}
	if sent, err := ts.Server.pushToUser(ctx, uid, long); sent != 2 {
		t.Errorf("long message: sent %d (%v)", sent, err)
	}
	got = ps.Received()
	last := got[len(got)-1].Message
	if len([]rune(last.Title)) != maxPushTitle || len([]rune(last.Body)) != maxPushBody || !strings.HasSuffix(last.Body, "…") {
		t.Errorf("long message arrived as title %d, body %d characters", len([]rune(last.Title)), len([]rune(last.Body)))
	}

	// No subscriptions: nothing to do, no error.
	if n, err := ts.Server.pushToUser(ctx, uid+100, msg); n != 0 || err != nil {
		t.Errorf("user without browsers: %d %v", n, err)
	}
}

// TestServiceWorkerAndManifest: /sw.js is served from the root as
// JavaScript; the inbox links a manifest with icons that exist and
// standalone display, which the page's CSP allows.
func TestServiceWorkerAndManifest(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	r := c.must(200, "GET", "/sw.js", nil)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || !bytes.Contains(r.Body, []byte("notificationclick")) || !bytes.Contains(r.Body, []byte("showNotification")) {
		t.Errorf("/sw.js: %s %q", r.Header.Get("Content-Type"), r.Body[:min(len(r.Body), 80)])
	}
	c.signup("agent1")
	page := c.must(200, "GET", "/messages", nil)
	// The href is versioned by assets.go: /static/<version>/manifest.webmanifest.
	if !regexp.MustCompile(`<link rel="manifest" href="/static/([0-9a-f]+/)?manifest\.webmanifest">`).Match(page.Body) {
		t.Fatal("the inbox does not link the manifest")
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "manifest-src 'self'") {
		t.Errorf("CSP %q blocks the manifest", csp)
	}
	m := c.must(200, "GET", "/static/manifest.webmanifest", nil)
	if ct := m.Header.Get("Content-Type"); ct != "application/manifest+json" {
		t.Errorf("manifest Content-Type %q", ct)
	}
	var man struct {
		StartURL string `json:"start_url"`
		Display  string `json:"display"`
		Icons    []struct{ Src, Sizes, Type, Purpose string }
	}
	if err := json.Unmarshal(m.Body, &man); err != nil {
		t.Fatal(err)
	}
	if man.StartURL != "/messages" || man.Display != "standalone" {
		t.Errorf("manifest %+v", man)
	}
	sizes := map[string]bool{}
	for _, ic := range man.Icons {
		r := c.must(200, "GET", ic.Src, nil)
		if r.Header.Get("Content-Type") != ic.Type {
			t.Errorf("%s: Content-Type %q, manifest says %q", ic.Src, r.Header.Get("Content-Type"), ic.Type)
		}
		if ic.Type == "image/png" {
			var w, h uint32
			if len(r.Body) > 24 {
				w, h = binary.BigEndian.Uint32(r.Body[16:20]), binary.BigEndian.Uint32(r.Body[20:24])
			}
			if fmt.Sprintf("%dx%d", w, h) != ic.Sizes {
				t.Errorf("%s is %dx%d, manifest says %s", ic.Src, w, h, ic.Sizes)
			}
			sizes[ic.Sizes] = true
		}
	}
	if !sizes["192x192"] || !sizes["512x512"] {
		t.Errorf("installable apps need 192 and 512 px PNG icons; have %v", sizes)
	}
}
