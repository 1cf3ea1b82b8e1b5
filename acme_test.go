package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pebble is Let's Encrypt's test ACME server, wired in-process the way
// its cmd/pebble does, with real challenge validation: its VA resolves
// every name to 127.0.0.1 through an in-process DNS server
// (challtestsrv) and connects to httpPort for HTTP-01 and tlsPort for
// TLS-ALPN-01, where the livechat under test listens.
type pebble struct {
	DirURL    string
	RootsFile string // PEM of the directory's own HTTPS certificate
	CA        *ca.CAImpl
	orders    atomic.Int64
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logw := io.Discard
	if testing.Verbose() {
		logw = testWriter{t}
	}
	logger := log.New(logw, "pebble ", 0)

	dnsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	dns, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{dnsAddr}, Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	dns.SetDefaultDNSIPv4("127.0.0.1")
	dns.SetDefaultDNSIPv6("")
	go dns.Run()
	t.Cleanup(dns.Shutdown)

	store := pebbledb.NewMemoryStore()
	p := &pebble{}
	p.CA = ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	v := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	w := wfe.New(logger, store, v, p.CA, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := w.Handler()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		// Let's Encrypt's production server answers "finalize" with the
		// order's URL in Location, and x/crypto/acme needs it to poll an
		// order still "processing"; Pebble leaves it out, so add it here.
		if id, ok := strings.CutPrefix(r.URL.Path, "/finalize-order/"); ok && r.Method == http.MethodPost {
			rw.Header().Set("Location", "https://"+r.Host+"/my-order/"+id)
		}
		h.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	p.DirURL = srv.URL + wfe.DirectoryPath
	p.RootsFile = filepath.Join(t.TempDir(), "pebble-wfe.pem")
	if err := os.WriteFile(p.RootsFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// httpsClient trusts Pebble's root and sends every connection for
// domain to addr.
func (p *pebble) httpsClient(addr string) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(p.CA.GetRootCert(0).Cert)
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestAutomaticHTTPS runs the program with --domain against Pebble: the
// certificate is obtained with a validated challenge, the landing page is
// served over it with HSTS and a Secure session cookie, port 80
// redirects to HTTPS; after a restart on the same file the same
// certificate is served from the database and Pebble saw no second order.
func TestAutomaticHTTPS(t *testing.T) {
	const domain = "chat.example.test"
	httpsPort, httpPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, httpsPort)
	path := filepath.Join(t.TempDir(), "livechat.db")
	args := []string{"--db", path, "--domain", domain,
		"--https-addr", "127.0.0.1:" + strconv.Itoa(httpsPort), "--http-addr", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--acme-directory", p.DirURL, "--acme-ca-roots", p.RootsFile, "--acme-email", "owner@example.test"}

	start := time.Now()
	addr, stdout, stop := runMain(t, args...)
	if !strings.Contains(stdout.String(), "https://"+domain) {
		t.Errorf("stdout %q does not name https://%s", stdout.String(), domain)
	}
	client := p.httpsClient(addr)
	var resp *http.Response
	var err error
	for time.Since(start) < 30*time.Second {
		if resp, err = client.Get("https://" + domain + "/"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("no HTTPS page within 30 s: %v", err)
	}
	t.Logf("cold start to the first HTTPS page: %s", time.Since(start).Round(time.Millisecond))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<html")) {
		t.Fatalf("landing page over HTTPS: %d %.200s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q", got)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname(domain); err != nil {
		t.Errorf("certificate: %v", err)
	}
	if orders := p.orders.Load(); orders != 1 {
		t.Errorf("%d orders for one domain, want 1", orders)
	}
	// The session cookie is Secure under TLS.
	resp, err = client.Post("https://"+domain+"/accounts/api/signup", "application/json",
		strings.NewReader(`{"username":"acme","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("signup over HTTPS: %d", resp.StatusCode)
	}
	secure := false
	for _, c := range resp.Cookies() {
		if c.Name == "livechat_session" {
			secure = c.Secure
		}
	}
	if !secure {
		t.Errorf("session cookie not Secure under TLS: %v", resp.Header["Set-Cookie"])
	}

	// Port 80: redirects to HTTPS on the same path; a challenge path for
	// a token it never issued is a 404, not a redirect.
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/messages?x=1", nil)
	req.Host = domain
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + domain + ":" + strconv.Itoa(httpsPort) + "/messages?x=1"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("port 80: %d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	req, _ = http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/", nil)
	req.Host = "evil.example.net"
	if resp, err = plain.Do(req); err == nil {
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://"+domain+":") {
			t.Errorf("redirect for a foreign Host goes to %q", loc)
		}
	}
	req, _ = http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/.well-known/acme-challenge/nope", nil)
	req.Host = domain
	if resp, err = plain.Do(req); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown challenge token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The certificate and the account key are in the database file.
	db, err := OpenDB(context.Background(), path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	rows, err := db.reader.Query("SELECT key FROM acme_cache ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	rows.Close()
	db.Close()
	if strings.Join(keys, " ") != "acme_account+key "+domain {
		t.Errorf("acme_cache holds %q, want the account key and %s", keys, domain)
	}

	// Restart: the same certificate, from the database, no new order.
	addr2, _, _ := runMain(t, args...)
	client2 := p.httpsClient(addr2)
	resp, err = client2.Get("https://" + domain + "/healthz")
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	resp.Body.Close()
	if !resp.TLS.PeerCertificates[0].Equal(leaf) {
		t.Error("after restart a different certificate is served")
	}
	if orders := p.orders.Load(); orders != 1 {
		t.Errorf("after restart Pebble saw %d orders, want still 1", orders)
	}
}

// TestDomainFlags: bad --domain values and --domain with --tls-cert are
// refused; --domain turns Secure cookies on.
func TestDomainFlags(t *testing.T) {
	env := func(string) string { return "" }
	for _, bad := range []string{"https://chat.example.com", "chat.example.com:443", "localhost", "chat example.com", "chat.example.com/x"} {
		if _, err := parseFlags([]string{"--domain", bad}, env, io.Discard); err == nil {
			t.Errorf("--domain %q accepted", bad)
		}
	}
	cfg, err := parseFlags([]string{"--domain", " Chat.Example.com,www.example.com,chat.example.com"}, env, io.Discard)
	if err != nil || strings.Join(cfg.Domains, ",") != "chat.example.com,www.example.com" || !cfg.SecureCookies {
		t.Errorf("domains %v secure=%v err=%v", cfg.Domains, cfg.SecureCookies, err)
	}
	if cfg.HTTPSAddr != ":443" || cfg.HTTPAddr != ":80" || !strings.Contains(cfg.ACMEDirectory, "letsencrypt.org") {
		t.Errorf("defaults: %q %q %q", cfg.HTTPSAddr, cfg.HTTPAddr, cfg.ACMEDirectory)
	}
	if _, err := parseFlags([]string{"--domain", "chat.example.com", "--tls-cert", "c", "--tls-key", "k"}, env, io.Discard); err == nil {
		t.Error("--domain with --tls-cert accepted")
	}
}

// TestAutomaticHTTPSOverHTTP01: when the CA cannot reach the HTTPS port
// (here Pebble validates TLS-ALPN-01 against a closed port), the
// certificate still comes through HTTP-01, answered on --http-addr.
func TestAutomaticHTTPSOverHTTP01(t *testing.T) {
	const domain = "www.example.test"
	httpsPort, httpPort := freePort(t), freePort(t)
	p := startPebble(t, httpPort, freePort(t))
	addr, _, _ := runMain(t, "--db", filepath.Join(t.TempDir(), "livechat.db"), "--domain", domain,
		"--https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort), "--http-addr", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--acme-directory", p.DirURL, "--acme-ca-roots", p.RootsFile)
	client := p.httpsClient(addr)
	var resp *http.Response
	var err error
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(100 * time.Millisecond) {
		if resp, err = client.Get("https://" + domain + "/healthz"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no HTTPS within 30 s: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz over HTTPS: %d", resp.StatusCode)
	}
	// The first order failed on TLS-ALPN-01, the second passed HTTP-01.
	if orders := p.orders.Load(); orders != 2 {
		t.Errorf("%d orders, want 2 (TLS-ALPN-01 refused, then HTTP-01)", orders)
	}
}
