package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignup(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	r := c.must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{
		"username": "  Acme.Shop ", "password": "correct horse", "email": "owner@acme.example", "name": "Acme Shop"})
	if r.JSON["detail"] != "success" {
		t.Errorf("detail=%v", r.JSON["detail"])
	}
	u := r.JSON["user"].(map[string]any)
	if u["username"] != "acme.shop" || u["email"] != "owner@acme.example" || u["name"] != "Acme Shop" {
		t.Errorf("user=%v", u)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", u["created"].(string)); err != nil {
		t.Errorf("created %q is not RFC 3339 UTC with milliseconds", u["created"])
	}
	if _, ok := u["password"]; ok {
		t.Error("user object carries a password")
	}
	// Signed in by signup; the cookie is HttpOnly and SameSite=Lax.
	var setCookie string
	for _, c := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "livechat_session=") {
			setCookie = c
		}
	}
	for _, want := range []string{"livechat_session=", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("Set-Cookie %q is Secure over plain HTTP", setCookie)
	}
	c.must(200, "GET", "/accounts/api/me", nil)

	// The password is stored only as a bcrypt hash.
	var hash string
	ts.DB.reader.QueryRow("SELECT password_hash FROM users WHERE username='acme.shop'").Scan(&hash)
	if !strings.HasPrefix(hash, "$2a$") || strings.Contains(hash, "correct horse") {
		t.Errorf("stored hash %q is not bcrypt", hash)
	}

	// Taken, whatever the case.
	r = ts.client().must(http.StatusConflict, "POST", "/accounts/api/signup", map[string]string{"username": "ACME.shop", "password": "another one"})
	if r.FieldError("username") == "" || r.Detail() == "" {
		t.Errorf("409 body: %s", r.Body)
	}

	// A browser form works too.
	ts.client().must(http.StatusCreated, "POST", "/accounts/api/signup", "username=formuser&password=12345678")
}

func TestSignupValidation(t *testing.T) {
	ts := newTestServer(t)
	long := strings.Repeat("a", 33)
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"no username", map[string]string{"password": "12345678"}, "username"},
		{"bad characters", map[string]string{"username": "acme shop", "password": "12345678"}, "username"},
		{"unicode", map[string]string{"username": "äcme", "password": "12345678"}, "username"},
		{"too long", map[string]string{"username": long, "password": "12345678"}, "username"},
		{"short password", map[string]string{"username": "acme", "password": "1234567"}, "password"},
		{"long password", map[string]string{"username": "acme", "password": strings.Repeat("p", 129)}, "password"},
		{"bad email", map[string]string{"username": "acme", "password": "12345678", "email": "not an email"}, "email"},
		{"long name", map[string]string{"username": "acme", "password": "12345678", "name": strings.Repeat("n", 101)}, "name"},
		{"username not a string", map[string]any{"username": 12, "password": "12345678"}, "username"},
	}
	for _, r := range []string{"api", "details", "message", "consumeremail", "files", "static", "ws", "API"} {
		cases = append(cases, struct {
			name  string
			body  any
			field string
		}{"reserved " + r, map[string]string{"username": r, "password": "12345678"}, "username"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.client().must(http.StatusBadRequest, "POST", "/accounts/api/signup", tc.body)
			if r.FieldError(tc.field) == "" {
				t.Errorf("no error for field %q: %s", tc.field, r.Body)
			}
		})
	}
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM users").Scan(&n)
	if n != 0 {
		t.Errorf("%d users created by invalid signups", n)
	}
	// The longest password is fine, and all of it counts.
	c := ts.client()
	c.must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": long[:32], "password": strings.Repeat("p", 128)})
	c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": long[:32], "password": strings.Repeat("p", 127) + "q"})
	c.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": long[:32], "password": strings.Repeat("p", 128)})
}

func TestBadBodies(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	cases := []struct {
		name   string
		body   any
		ctype  string
		status int
	}{
		{"empty", strings.NewReader(""), "application/json", 400},
		{"not json", strings.NewReader("{nope"), "application/json", 400},
		{"json array", strings.NewReader("[1,2]"), "application/json", 400},
		{"over 64 KiB", strings.NewReader(`{"username":"` + strings.Repeat("a", 70<<10) + `"}`), "application/json", 413},
		{"form over 64 KiB", strings.NewReader("username=" + strings.Repeat("a", 70<<10)), "application/x-www-form-urlencoded", 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.must(tc.status, "POST", "/accounts/api/signup", tc.body, "Content-Type", tc.ctype)
			if r.Detail() == "" || strings.Contains(string(r.Body), "goroutine") {
				t.Errorf("body %s", r.Body)
			}
		})
	}
}

func TestLoginLogoutMe(t *testing.T) {
	ts := newTestServer(t)
	ts.client().signup("acme")

	c := ts.client()
	c.must(http.StatusUnauthorized, "GET", "/accounts/api/me", nil)
	r := c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "wrong horse"})
	if r.Detail() != "Username or password is incorrect" {
		t.Errorf("detail %q", r.Detail())
	}
	r = c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "nobody", "password": "wrong horse"})
	if r.Detail() != "Username or password is incorrect" {
		t.Errorf("unknown user detail %q", r.Detail())
	}
	c.must(http.StatusBadRequest, "POST", "/accounts/api/login", map[string]string{"username": "acme"})

	// A session token planted before login is replaced (no fixation).
	c.must(http.StatusUnauthorized, "POST", "/accounts/api/logout", nil)
	r = c.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "ACME", "password": "correct horse"})
	first := sessionCookie(r)
	if first == "" {
		t.Fatal("login set no session cookie")
	}
	if u := r.JSON["user"].(map[string]any); u["username"] != "acme" {
		t.Errorf("user %v", u)
	}
	r = c.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "correct horse"})
	if second := sessionCookie(r); second == "" || second == first {
		t.Errorf("session token not renewed at login: %q then %q", first, second)
	}
	c.must(http.StatusOK, "GET", "/accounts/api/me/", nil)

	c.must(http.StatusNoContent, "POST", "/accounts/api/logout", nil)
	c.must(http.StatusUnauthorized, "GET", "/accounts/api/me", nil)
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM sessions").Scan(&n)
	if n != 1 { // the first client's signup session only
		t.Errorf("%d sessions stored after logout, want 1", n)
	}
}

func sessionCookie(r *response) string {
	for _, c := range r.Header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "livechat_session="); ok {
			return strings.SplitN(v, ";", 2)[0]
		}
	}
	return ""
}

// TestLoginThrottle: 10 failures in 15 minutes for one username, or from
// one address, and the next attempt gets 429 with Retry-After, even with
// the right password; the window then slides.
func TestLoginThrottle(t *testing.T) {
	ts := newTestServer(t)
	ts.client().signup("acme")
	c := ts.client()
	for i := 0; i < 10; i++ {
		c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "guess " + strconv.Itoa(i)})
		ts.clock.Advance(time.Second)
	}
	r := c.must(http.StatusTooManyRequests, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "correct horse"})
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry <= 0 || retry > 15*60 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r.Detail() == "" {
		t.Error("429 without detail")
	}
	// After the window has passed for the first failure, one attempt is
	// allowed again.
	ts.clock.Advance(time.Duration(retry) * time.Second)
	c.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "correct horse"})

	// Per address: failures spread over many usernames from one client.
	ts2 := newTestServer(t)
	ts2.client().signup("shop")
	c2 := ts2.client()
	for i := 0; i < 10; i++ {
		c2.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "user" + strconv.Itoa(i), "password": "whatever1"})
	}
	c2.must(http.StatusTooManyRequests, "POST", "/accounts/api/login", map[string]string{"username": "shop", "password": "correct horse"})
	ts2.clock.Advance(15 * time.Minute)
	c2.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "shop", "password": "correct horse"})
}

func TestThrottleTrustProxy(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.TrustProxy = true })
	c := ts.client()
	for i := 0; i < 10; i++ {
		c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "u" + strconv.Itoa(i), "password": "whatever1"}, "X-Forwarded-For", "203.0.113.9")
	}
	c.must(http.StatusTooManyRequests, "POST", "/accounts/api/login", map[string]string{"username": "other", "password": "whatever1"}, "X-Forwarded-For", "203.0.113.9")
	// Another client behind the same proxy is not blocked.
	c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "other", "password": "whatever1"}, "X-Forwarded-For", "198.51.100.7")
}

// TestChangePassword: wrong old password is 403 and changes nothing; a
// change ends the account's other sessions but keeps this one.
func TestChangePassword(t *testing.T) {
	ts := newTestServer(t)
	a := ts.client()
	a.signup("acme")
	b := ts.client()
	b.must(200, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "correct horse"})
	other := ts.client()
	other.signup("other")

	r := a.must(http.StatusForbidden, "POST", "/accounts/api/changepassword", map[string]string{"old_password": "wrong horse", "new_password": "battery staple"})
	if r.Detail() == "" {
		t.Error("403 without detail")
	}
	a.must(http.StatusBadRequest, "POST", "/accounts/api/changepassword", map[string]string{"old_password": "correct horse", "new_password": "short"})
	a.must(http.StatusBadRequest, "POST", "/accounts/api/changepassword", map[string]string{"new_password": "battery staple"})
	b.must(200, "GET", "/accounts/api/me", nil) // nothing changed yet

	a.must(http.StatusOK, "POST", "/accounts/api/changepassword", map[string]string{"old_password": "correct horse", "new_password": "battery staple"})
	a.must(http.StatusOK, "GET", "/accounts/api/me", nil)
	b.must(http.StatusUnauthorized, "GET", "/accounts/api/me", nil)
	other.must(http.StatusOK, "GET", "/accounts/api/me", nil)

	ts.client().must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "correct horse"})
	ts.client().must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": "battery staple"})
	ts.client().must(http.StatusUnauthorized, "POST", "/accounts/api/changepassword", map[string]string{"old_password": "x", "new_password": "battery staple"})
}

// TestCrossOriginRefused: a state-changing request from another site is
// refused with a JSON 403 and changes nothing; same-origin and non-browser
// requests pass.
func TestCrossOriginRefused(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	c.signup("acme")
	body := map[string]string{"chatbotName": "Evil"}
	r := c.must(http.StatusForbidden, "POST", "/chatbot/api", body, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if r.Detail() == "" {
		t.Errorf("403 body %s", r.Body)
	}
	c.must(http.StatusForbidden, "POST", "/chatbot/api", body, "Origin", "https://evil.example")
	c.must(http.StatusForbidden, "POST", "/accounts/api/logout", nil, "Sec-Fetch-Site", "cross-site")
	c.must(http.StatusForbidden, "POST", "/accounts/api/signup", map[string]string{"username": "x1", "password": "12345678"}, "Sec-Fetch-Site", "cross-site")
	r = c.must(200, "GET", "/chatbot/api", nil)
	if r.JSON["chatbot_details"].(map[string]any)["chatbotName"] != "acme" {
		t.Errorf("cross-origin request changed the chatbot: %s", r.Body)
	}
	// Reads from anywhere are fine; so are same-origin writes.
	c.must(200, "GET", "/chatbot/details/acme", nil, "Sec-Fetch-Site", "cross-site")
	c.must(200, "POST", "/chatbot/api", body, "Sec-Fetch-Site", "same-origin", "Origin", ts.URL)
	c.must(200, "POST", "/chatbot/api", body, "Origin", ts.URL)
}

// TestAPIPathsAndErrors: every API path answers with and without a
// trailing slash; unknown API paths and wrong methods get JSON errors.
func TestAPIPathsAndErrors(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client()
	c.signup("acme")
	for _, p := range []string{"/accounts/api/me", "/chatbot/api", "/chatbot/details/acme", "/healthz"} {
		c.must(200, "GET", p, nil)
		c.must(200, "GET", p+"/", nil)
	}
	c.must(200, "POST", "/chatbot/api/", map[string]string{"introductionText": "Hello"})
	c.must(204, "POST", "/accounts/api/logout/", nil)
	c.must(201, "POST", "/accounts/api/signup/", map[string]string{"username": "slash", "password": "12345678"})
	c.must(200, "POST", "/accounts/api/login/", map[string]string{"username": "slash", "password": "12345678"})
	c.must(200, "POST", "/accounts/api/changepassword/", map[string]string{"old_password": "12345678", "new_password": "87654321"})

	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/accounts/api/nothing", 404},
		{"GET", "/accounts/api/signup", 405},
		{"DELETE", "/accounts/api/me", 405},
		{"PUT", "/chatbot/api", 405},
		{"GET", "/chatbot/details/nobody", 404},
		{"GET", "/chatbot/nobody/picture", 404},
	}
	for _, tc := range cases {
		r := c.must(tc.status, tc.method, tc.path, nil)
		if r.Detail() == "" {
			t.Errorf("%s %s: no JSON detail: %s", tc.method, tc.path, r.Body)
		}
		if tc.status == 405 && r.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}

// BenchmarkLogin compares a wrong password for a real account with a
// login for an unknown username: the two should cost the same, so that
// timing does not tell which usernames exist. (Figures, not assertions.)
func BenchmarkLogin(b *testing.B) {
	ts := newTestServer(b, func(c *Config) { c.BcryptCost = 10; c.LoginFailures = 0 })
	ts.client().signup("acme")
	for _, who := range []string{"acme", "nobody"} {
		b.Run(who, func(b *testing.B) {
			c := ts.client()
			for i := 0; i < b.N; i++ {
				c.must(http.StatusUnauthorized, "POST", "/accounts/api/login", map[string]string{"username": who, "password": "wrong horse"})
			}
		})
	}
}

// The signup's business name becomes the chatbot name, cut to its limit
// on a character boundary; without one it is the username.
func TestSignupChatbotName(t *testing.T) {
	long := strings.Repeat("é", 70)
	for _, c := range []struct{ username, name, want string }{
		{"acme", "", "acme"},
		{"acme", "   ", "acme"},
		{"acme", "  Acme Bikes ", "Acme Bikes"},
		{"acme", long, strings.Repeat("é", maxChatbotName)},
	} {
		if got := signupChatbotName(c.username, c.name); got != c.want {
			t.Errorf("signupChatbotName(%q, %q) = %q, want %q", c.username, c.name, got, c.want)
		}
	}
	ts := newTestServer(t)
	admin := ts.client()
	admin.must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": "bikes", "password": testPassword, "name": "Nordic Bikes"})
	var c struct {
		Chatbot Chatbot `json:"chatbot"`
	}
	ts.getJSON(nil, "/chatbot/details/bikes", 200, &c)
	if c.Chatbot.ChatbotName != "Nordic Bikes" {
		t.Errorf("chatbotName = %q, want the business name", c.Chatbot.ChatbotName)
	}
}

// TestChangePasswordThrottle: wrong old passwords are throttled like
// logins: the 11th attempt in 15 minutes is 429 with Retry-After, even
// with the right password, per account and per address; it does not lock
// the owner out of signing in, and the window slides (issue 12, finding 8:
// a stolen session could guess at ~7 tries/s).
func TestChangePasswordThrottle(t *testing.T) {
	ts := newTestServer(t)
	a := ts.client().signup("acme")
	for i := range 10 {
		a.must(http.StatusForbidden, "POST", "/accounts/api/changepassword", map[string]string{"old_password": "guess " + strconv.Itoa(i), "new_password": "battery staple"})
		ts.clock.Advance(time.Second)
	}
	r := a.must(http.StatusTooManyRequests, "POST", "/accounts/api/changepassword", map[string]string{"old_password": testPassword, "new_password": "battery staple"})
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry <= 0 || retry > 15*60 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r.Detail() == "" {
		t.Error("429 without detail")
	}
	// Another session of the same account is throttled too (per account).
	b := ts.client()
	b.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": testPassword})
	b.must(http.StatusTooManyRequests, "POST", "/accounts/api/changepassword", map[string]string{"old_password": testPassword, "new_password": "battery staple"})
	// The password did not change, and the owner can still sign in.
	ts.client().must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": testPassword})
	// Another account from the same address is throttled (per address).
	o := ts.client().signup("other")
	o.must(http.StatusTooManyRequests, "POST", "/accounts/api/changepassword", map[string]string{"old_password": testPassword, "new_password": "battery staple"})

	ts.clock.Advance(time.Duration(retry) * time.Second)
	a.must(http.StatusOK, "POST", "/accounts/api/changepassword", map[string]string{"old_password": testPassword, "new_password": "battery staple"})
}

// TestLoginDeviceCookie: the lockout cannot be used against the owner
// (issue 12, finding 9). A browser that signed in before carries a signed
// device cookie; failures from elsewhere lock out requests without one,
// not the owner's browser, which has its own budget of failures.
func TestLoginDeviceCookie(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.TrustProxy = true })
	ts.client().signup("acme")
	ts.client().signup("shop")
	login := func(c *testClient, user, password, addr string) *response {
		t.Helper()
		return c.do("POST", "/accounts/api/login", map[string]string{"username": user, "password": password}, "X-Forwarded-For", addr)
	}
	const ownerAddr, attackerAddr = "198.51.100.7", "203.0.113.9"

	owner := ts.client()
	r := login(owner, "acme", testPassword, ownerAddr)
	if r.Status != http.StatusOK {
		t.Fatalf("owner login: %d %s", r.Status, r.Body)
	}
	var device *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "livechat_device" {
			device = c
		}
	}
	if device == nil {
		t.Fatalf("no device cookie after a successful login: %v", r.Header.Values("Set-Cookie"))
	}
	if !device.HttpOnly || device.Path != "/" || device.MaxAge <= 0 || device.SameSite != http.SameSiteStrictMode {
		t.Errorf("device cookie attributes: %+v", device)
	}
	// The owner signs out; the browser stays known.
	owner.must(http.StatusNoContent, "POST", "/accounts/api/logout", nil)

	// Someone else guesses at the public username until it is locked.
	attacker := ts.client()
	for i := range 10 {
		if r := login(attacker, "acme", "guess "+strconv.Itoa(i), attackerAddr); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	if r := login(attacker, "acme", testPassword, attackerAddr); r.Status != http.StatusTooManyRequests {
		t.Fatalf("attacker after 10 guesses: %d, want 429", r.Status)
	}
	// A browser without the cookie, even at the owner's address, is locked
	// out of the username...
	if r := login(ts.client(), "acme", testPassword, ownerAddr); r.Status != http.StatusTooManyRequests {
		t.Errorf("a new browser during the lockout: %d, want 429", r.Status)
	}
	// ...and so is one with a forged cookie or a cookie of another account.
	forged := ts.client()
	u, _ := url.Parse(ts.URL)
	bad := strings.SplitN(device.Value, ":", 3)
	forged.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "livechat_device", Value: bad[0] + ":" + bad[1] + ":" + strings.Repeat("A", len(bad[2])), Path: "/"}})
	if r := login(forged, "acme", testPassword, ownerAddr); r.Status != http.StatusTooManyRequests {
		t.Errorf("a forged device cookie during the lockout: %d, want 429", r.Status)
	}
	shopOwner := ts.client()
	if r := login(shopOwner, "shop", testPassword, ownerAddr); r.Status != http.StatusOK {
		t.Fatalf("shop login: %d", r.Status)
	}
	if r := login(shopOwner, "acme", testPassword, ownerAddr); r.Status != http.StatusTooManyRequests {
		t.Errorf("a device cookie of another account during the lockout: %d, want 429", r.Status)
	}

	// The owner's browser signs in.
	if r := login(owner, "acme", testPassword, ownerAddr); r.Status != http.StatusOK {
		t.Fatalf("owner's browser during the lockout: %d %s, want 200", r.Status, r.Body)
	}
	owner.must(http.StatusOK, "GET", "/accounts/api/me", nil)
	owner.must(http.StatusNoContent, "POST", "/accounts/api/logout", nil)

	// The known browser has its own budget: 10 failures lock it (and only
	// it) out, and then it is a browser like any other (still locked out
	// by the attacker's failures).
	for i := range 10 {
		if r := login(owner, "acme", "typo "+strconv.Itoa(i), ownerAddr); r.Status != http.StatusUnauthorized {
			t.Fatalf("owner typo %d: %d", i, r.Status)
		}
	}
	if r := login(owner, "acme", testPassword, ownerAddr); r.Status != http.StatusTooManyRequests {
		t.Errorf("owner's browser after 10 failures of its own: %d, want 429", r.Status)
	}
	// Its failures were its own: the address was not charged with them.
	if r := login(ts.client(), "shop", testPassword, ownerAddr); r.Status != http.StatusOK {
		t.Errorf("another account from the owner's address: %d, want 200", r.Status)
	}
}

// TestDeviceCookieSecure: with Secure cookies the device cookie is
// __Host-livechat_device, Secure, for the whole host.
func TestDeviceCookieSecure(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.SecureCookies = true })
	r := ts.client().must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": "acme", "password": testPassword})
	var found bool
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "__Host-livechat_device" {
			found = true
			if !c.Secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("device cookie %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("no __Host-livechat_device cookie: %v", r.Header.Values("Set-Cookie"))
	}
}

// TestSignupSessionFailureIsAtomic: when the new session cannot be
// stored, signup answers one 500 with one JSON body and leaves no account
// behind (issue 12, finding 11: two JSON bodies, and the account was
// created anyway).
func TestSignupSessionFailureIsAtomic(t *testing.T) {
	ts := newTestServer(t)
	if _, err := ts.DB.writer.Exec(`CREATE TRIGGER no_sessions BEFORE INSERT ON sessions
		BEGIN SELECT RAISE(ABORT, 'sessions cannot be stored'); END`); err != nil {
		t.Fatal(err)
	}
	c := ts.client()
	req, _ := http.NewRequest("POST", ts.URL+"/accounts/api/signup", strings.NewReader(`{"username":"acme","password":"`+testPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("signup without sessions: %d %s, want 500", resp.StatusCode, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var first map[string]any
	if err := dec.Decode(&first); err != nil || first["detail"] != "Internal error." {
		t.Fatalf("body %q: %v", body, err)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" || dec.More() {
		t.Errorf("more than one answer in the body: %q", body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "livechat_session" && ck.MaxAge >= 0 {
			t.Errorf("a session cookie came with the failure: %v", ck)
		}
	}
	if _, err := ts.DB.UserByName(t.Context(), "acme"); !errors.Is(err, errNotFound) {
		t.Errorf("the account exists after its signup failed (%v)", err)
	}

	// Once sessions can be stored, the same signup works, and signs in.
	if _, err := ts.DB.writer.Exec("DROP TRIGGER no_sessions"); err != nil {
		t.Fatal(err)
	}
	c.must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": "acme", "password": testPassword})
	me := c.must(http.StatusOK, "GET", "/accounts/api/me", nil)
	if me.JSON["user"].(map[string]any)["username"] != "acme" {
		t.Errorf("me: %s", me.Body)
	}
	// One session row per signup: the commit at the end of the request
	// was not repeated under another token.
	var n int
	if err := ts.DB.reader.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil || n != 1 {
		t.Errorf("%d session rows (%v), want 1", n, err)
	}
}

// TestSignupNameControlCharacters: the account's name refuses control
// characters with a field error, and nothing is created.
func TestSignupNameControlCharacters(t *testing.T) {
	ts := newTestServer(t)
	for _, name := range []string{"Acme\x00", "Acme\nShop", "\x1b[2JAcme", "Ac\u0085me"} {
		r := ts.client().must(http.StatusBadRequest, "POST", "/accounts/api/signup", map[string]string{"username": "acme", "password": testPassword, "name": name})
		if r.FieldError("name") == "" {
			t.Errorf("name %q: no field error: %s", name, r.Body)
		}
	}
	ts.client().must(http.StatusCreated, "POST", "/accounts/api/signup", map[string]string{"username": "acme", "password": testPassword, "name": "Acme Shop — Café"})
}
