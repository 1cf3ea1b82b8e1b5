package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Device cookies (OWASP's "Slow Down Online Guessing Attacks with Device
// Cookies"): the login throttle locks a username after 10 failures, and
// the username is public (it is in the widget snippet), so anyone could
// keep a business's owner locked out. A browser that signed in
// successfully gets a device cookie naming the username, signed with a
// key the server keeps in its database; a login that carries a valid one
// for the username it signs in to is not subject to the username's and
// the address's lockout, only to its own budget of failures (the same
// limit, counted per cookie). Failures from everyone else lock out only
// requests without such a cookie.

// deviceCookieLifetime is how long a browser stays known after its last
// successful sign-in.
const deviceCookieLifetime = 365 * 24 * time.Hour

// deviceCookieName is the cookie's name: with Secure cookies it carries
// the __Host- prefix, which makes browsers refuse it unless it is Secure,
// for the whole host (no Domain) and Path=/.
func (s *Server) deviceCookieName() string {
	if s.sessions.Cookie.Secure {
		return "__Host-livechat_device"
	}
	return "livechat_device"
}

// loadDeviceKey reads the device-cookie key from server_state, making one
// on first start. It lives in the database so that a restart (or a copy of
// the file to a new server) keeps every browser known.
func (db *DB) loadDeviceKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	var key []byte
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO server_state (name, value) VALUES ('device_cookie_key', ?) ON CONFLICT (name) DO NOTHING", fresh); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM server_state WHERE name = 'device_cookie_key'").Scan(&key)
	})
	if err == nil && len(key) < 32 {
		err = errors.New("device cookie key too short")
	}
	return key, err
}

// deviceSignature is the MAC of a cookie's username and nonce.
func (s *Server) deviceSignature(username, nonce string) string {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("livechat device cookie\x00" + username + "\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// setDeviceCookie gives the browser a fresh device cookie for username.
func (s *Server) setDeviceCookie(w http.ResponseWriter, username string) {
	var b [16]byte
	rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name:     s.deviceCookieName(),
		Value:    username + ":" + nonce + ":" + s.deviceSignature(username, nonce),
		Path:     "/",
		MaxAge:   int(deviceCookieLifetime / time.Second),
		HttpOnly: true,
		Secure:   s.sessions.Cookie.Secure,
		SameSite: http.SameSiteStrictMode,
	})
}

// deviceOf returns the nonce of the request's device cookie when it is
// validly signed for username, else "".
func (s *Server) deviceOf(r *http.Request, username string) string {
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil {
		return ""
	}
	name, rest, ok1 := strings.Cut(c.Value, ":")
	nonce, sig, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || name != username || len(nonce) != 32 {
		return ""
	}
	if !hmac.Equal([]byte(sig), []byte(s.deviceSignature(name, nonce))) {
		return ""
	}
	return nonce
}
