package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Automatic HTTPS (--domain). autocert obtains and renews certificates
// from an ACME CA (Let's Encrypt unless --acme-directory says otherwise):
// TLS-ALPN-01 is answered on the HTTPS listener itself, HTTP-01 on
// --http-addr, which redirects every other request to HTTPS. The
// certificates and the ACME account key are kept in the SQLite file
// (acme_cache), so the one-file backup holds them and a restart does not
// order again.

// acmeCacheSQL is the migration step that adds the cache table.
const acmeCacheSQL = `
CREATE TABLE acme_cache (
    key     TEXT PRIMARY KEY,    -- autocert's key: a domain (+rsa) or the account key's name
    data    BLOB NOT NULL,       -- PEM: private key and certificate chain, or the account key
    updated INTEGER NOT NULL     -- Unix ms
);`

// dbCertCache is autocert.Cache over acme_cache.
type dbCertCache struct{ db *DB }

var _ autocert.Cache = dbCertCache{}

func (c dbCertCache) Get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := c.db.reader.QueryRowContext(ctx, "SELECT data FROM acme_cache WHERE key = ?", key).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, autocert.ErrCacheMiss
	}
	return data, err
}

func (c dbCertCache) Put(ctx context.Context, key string, data []byte) error {
	return c.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO acme_cache (key, data, updated) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated = excluded.updated`, key, data, c.db.nowMillis())
		return err
	})
}

func (c dbCertCache) Delete(ctx context.Context, key string) error {
	return c.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM acme_cache WHERE key = ?", key)
		return err
	})
}

// domainRE is a host name with at least two labels (autocert refuses
// single-label names), lowercase.
var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// parseDomains reads --domain: comma-separated host names.
func parseDomains(s string) ([]string, error) {
	var out []string
	for _, d := range strings.Split(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if !domainRE.MatchString(d) || len(d) > 253 {
			return nil, fmt.Errorf("--domain: %q is not a host name like chat.example.com (no scheme, port or path)", d)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// acmeHTTPClient is the ACME client's HTTP client: the system roots plus,
// with --acme-ca-roots, the PEM certificates in that file (a private CA,
// or a test CA such as Pebble).
func acmeHTTPClient(rootsFile string) (*http.Client, error) {
	if rootsFile == "" {
		return http.DefaultClient, nil
	}
	pem, err := os.ReadFile(rootsFile)
	if err != nil {
		return nil, fmt.Errorf("--acme-ca-roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--acme-ca-roots: no PEM certificate in %s", rootsFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// autoTLS is the running ACME side: the certificate manager and the
// plain-HTTP server on --http-addr.
type autoTLS struct {
	manager *autocert.Manager
	http    *http.Server
	// TLSConfig is the HTTPS listener's: certificates from the manager,
	// HTTP/2 and HTTP/1.1, and the acme-tls/1 protocol for TLS-ALPN-01.
	TLSConfig *tls.Config
	// HTTPAddr is where the plain-HTTP server listens.
	HTTPAddr net.Addr
}

// startAutoTLS listens on --http-addr and prepares the certificates for
// cfg.Domains. It asks for them at once in the background, so a wrong DNS
// record shows in the log at start rather than at the first visitor.
func startAutoTLS(cfg Config, db *DB, logger *slog.Logger) (*autoTLS, error) {
	client, err := acmeHTTPClient(cfg.ACMERoots)
	if err != nil {
		return nil, err
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(cfg.Domains...),
		Cache:      dbCertCache{db},
		Email:      cfg.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: cfg.ACMEDirectory, HTTPClient: client, UserAgent: "livechat"},
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (--http-addr): %w", cfg.HTTPAddr, err)
	}
	a := &autoTLS{manager: m, HTTPAddr: ln.Addr()}
	a.http = &http.Server{
		Handler:           stripHostPort(m.HTTPHandler(httpsRedirect(cfg.Domains, cfg.HTTPSAddr))),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go a.http.Serve(ln)
	a.TLSConfig = m.TLSConfig()
	a.TLSConfig.MinVersion = tls.VersionTLS12

	go func() {
		for _, d := range cfg.Domains {
			start := time.Now()
			// A hello that takes ECDSA, as every current browser's does, so
			// this is the certificate they will be served.
			_, err := m.GetCertificate(&tls.ClientHelloInfo{
				ServerName:   d,
				CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			})
			if err != nil {
				logger.Error("no certificate yet; check that the domain's DNS points at this server and ports 80/443 reach it", "domain", d, "err", err)
				continue
			}
			logger.Info("certificate ready", "domain", d, "took", time.Since(start).Round(time.Millisecond))
		}
	}()
	return a, nil
}

// Close stops the plain-HTTP server.
func (a *autoTLS) Close() { a.http.Close() }

// stripHostPort drops a port from the Host header: autocert checks the
// host against its list as it comes, and a CA validating HTTP-01 on a
// port other than 80 (a test CA, or a forwarded port) sends one.
func stripHostPort(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = h
		}
		next.ServeHTTP(w, r)
	})
}

// httpsRedirect sends plain-HTTP requests to the same path over HTTPS, on
// one of our domains (never to a host a request names that we do not
// serve): 301 for GET and HEAD, 308 (method kept) for the rest.
func httpsRedirect(domains []string, httpsAddr string) http.Handler {
	_, port, _ := net.SplitHostPort(httpsAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		if !slices.Contains(domains, host) {
			host = domains[0]
		}
		if port != "" && port != "443" {
			host = net.JoinHostPort(host, port)
		}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), code)
	})
}

// hsts adds Strict-Transport-Security to every answer served over TLS:
// browsers that have seen it use HTTPS for a year without asking.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
