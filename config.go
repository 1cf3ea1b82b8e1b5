package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/crypto/bcrypt"
)

// Config carries every setting and limit. Defaults are SPEC's; each has a
// command-line flag so an operator (or a load test) can change it, and
// tests set fields directly.
type Config struct {
	// Addr is the listen address. Defaults to 127.0.0.1:8000.
	Addr string
	// DBPath is the SQLite file. Defaults to ./livechat.db (env LIVECHAT_DB).
	DBPath string
	// Synchronous is SQLite's PRAGMA synchronous: FULL (default) or NORMAL.
	// FULL syncs every commit, so a message once delivered survives a power
	// loss; group commit shares that fsync among all the messages of a
	// batch, which keeps FULL affordable (docs/PROTOCOL.md, "Durability").
	Synchronous string
	// TLSCert and TLSKey make the server speak HTTPS itself.
	TLSCert, TLSKey string
	// SecureCookies marks the session cookie Secure; on by itself with TLS.
	// Set it when a reverse proxy terminates TLS in front of livechat.
	SecureCookies bool
	// TrustProxy takes the client address for login throttling from the
	// last X-Forwarded-For hop, for a server behind a reverse proxy.
	TrustProxy bool
	// AllowedOrigins are extra origins (host patterns, as in
	// websocket.AcceptOptions.OriginPatterns) allowed to open sockets.
	AllowedOrigins []string

	// MaxBody is the largest API request body. Defaults to 64 KiB.
	MaxBody int64
	// MaxPicture is the largest chatbot picture. Defaults to 1 MiB.
	MaxPicture int64
	// MaxUpload is the largest chat file. Defaults to 5 MiB.
	MaxUpload int64
	// MaxContent is the longest message, in characters. Defaults to 4000.
	MaxContent int
	// MaxFrame is the largest websocket frame a client may send; larger
	// closes the socket with 1009. Defaults to 64 KiB.
	MaxFrame int64
	// RateMessages messages per RateWindow per socket. Defaults to 20 per 10 s;
	// RateMessages <= 0 lifts the limit.
	RateMessages int
	RateWindow   time.Duration
	// RateChatter typing frames and fetch_messages per RateWindow per
	// socket; typing past it is dropped, fetches get rate_limited.
	// Defaults to 60; <= 0 lifts it.
	RateChatter int
	// RateStrikes refusals in a row close the socket with 1008. Defaults to 20.
	RateStrikes int
	// SendQueue is a socket's outgoing queue, in frames; a socket whose
	// queue is full is closed with 1008. AdminSendQueue is for admin room
	// sockets, which carry every room's traffic. Defaults 64 and 8192 (a burst of
	// arriving visitors sends new_room + presence each to the inbox).
	SendQueue      int
	AdminSendQueue int
	// PingInterval is how often sockets are pinged to find dead
	// connections. Defaults to 30 s.
	PingInterval time.Duration

	// LoginFailures failed logins per LoginWindow, per username or client
	// address, before 429. Defaults to 10 per 15 min.
	LoginFailures int
	LoginWindow   time.Duration
	// BcryptCost is the password hashing cost. Defaults to bcrypt.DefaultCost.
	BcryptCost int
	// SessionLifetime is how long a session lasts. Defaults to 30 days.
	SessionLifetime time.Duration
	// Pprof serves /debug/pprof/ on this extra address (localhost only).
	Pprof string

	// SMTP is the mail server, smtp://user:pass@host:587 (STARTTLS) or
	// smtps://user:pass@host:465 (implicit TLS); empty turns mail off
	// (env LIVECHAT_SMTP, so the password need not be on the command line).
	SMTP string
	// SMTPFrom is the sender, "Name <address>".
	SMTPFrom string
	// PublicURL is the address the world uses, for links in email and push;
	// defaults from Addr (see publicURL).
	PublicURL string
	// PushInsecure allows http:// push endpoints (tests only).
	PushInsecure bool
	// NotifyAfter is how long a visitor message may stay unread before
	// the agents are emailed, and an agent's reply unseen before the
	// visitor is (notifier.go). Defaults to 2 minutes.
	NotifyAfter time.Duration
	// BackupDir, when set, gets a consistent copy of the database once a
	// day; BackupKeep newest copies are kept (default 7). See backup.go.
	BackupDir  string
	BackupKeep int

	// Domains, when set, serve HTTPS on HTTPSAddr with certificates from
	// the ACME CA at ACMEDirectory (acme.go), and plain HTTP on HTTPAddr
	// for HTTP-01 challenges and redirects; Addr is then not used.
	Domains       []string
	HTTPSAddr     string
	HTTPAddr      string
	ACMEEmail     string
	ACMEDirectory string
	// ACMERoots is a PEM file of extra CA roots trusted for the ACME
	// directory's own HTTPS (a private CA, or a test one).
	ACMERoots string

	// MetricsAddr serves Prometheus /metrics on this extra address (off
	// when empty); only a loopback address unless MetricsPublic.
	MetricsAddr   string
	MetricsPublic bool
	// Signup is who may create a business: signupFirst (only while the
	// server has none; the default), signupOpen (anyone) or signupClosed.
	// Agents join by invitation whatever it says.
	Signup string
	// Per client address limits (the address as clientAddr finds it), so
	// one anonymous client cannot hurt a business. Each <= 0 lifts it.
	//
	// RoomsPerAddress new rooms per RoomsWindow; an upgrade that would
	// create one more gets 429. Defaults to 60 per 10 min.
	RoomsPerAddress int
	RoomsWindow     time.Duration
	// SocketsPerAddress open sockets; one more gets 429. Defaults to 200.
	SocketsPerAddress int
	// UploadsPerAddress uploads per UploadsWindow, and UploadsInFlight at
	// once. Defaults to 20 per 10 min, 4 at once.
	UploadsPerAddress int
	UploadsWindow     time.Duration
	UploadsInFlight   int
	// BodyTimeout and UploadTimeout bound how long a request body may take
	// to arrive; a stalled body gets 408. Defaults 10 s and 30 s.
	BodyTimeout   time.Duration
	UploadTimeout time.Duration
	// MaxStorage is the most upload bytes stored per business; more is
	// 507. Defaults to 1 GiB; <= 0 lifts it.
	MaxStorage int64
	// MinFreeDisk is the free space on the database's filesystem below
	// which uploads are refused with 507. Defaults to 256 MiB; <= 0 lifts it.
	MinFreeDisk int64
	// GeoIP is the MaxMind DB file countries are looked up in ("": none).
	GeoIP string
	// PurgeEmptyRooms is the age at which rooms that never got a message
	// are deleted. Defaults to 24 h; <= 0 keeps them.
	PurgeEmptyRooms time.Duration
	// purgeEvery is how often the purge runs (tests shorten it).
	purgeEvery time.Duration
	// retentionEvery is how often expired conversations are erased
	// (retention.go): a day; tests shorten it.
	retentionEvery time.Duration
}

// DefaultConfig returns SPEC's defaults.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:8000",
		DBPath:          "./livechat.db",
		Synchronous:     "FULL",
		MaxBody:         64 << 10,
		MaxPicture:      1 << 20,
		MaxUpload:       5 << 20,
		MaxContent:      4000,
		MaxFrame:        64 << 10,
		RateMessages:    20,
		RateWindow:      10 * time.Second,
		RateChatter:     60,
		RateStrikes:     20,
		SendQueue:       64,
		AdminSendQueue:  8192,
		PingInterval:    30 * time.Second,
		LoginFailures:   10,
		LoginWindow:     15 * time.Minute,
		BcryptCost:      bcrypt.DefaultCost,
		SessionLifetime: 30 * 24 * time.Hour,
		BackupKeep:      7,
		HTTPSAddr:       ":443",
		HTTPAddr:        ":80",
		ACMEDirectory:   autocert.DefaultACMEDirectory,
		Signup:          signupFirst,

		RoomsPerAddress:   60,
		RoomsWindow:       10 * time.Minute,
		SocketsPerAddress: 200,
		UploadsPerAddress: 20,
		UploadsWindow:     10 * time.Minute,
		UploadsInFlight:   4,
		BodyTimeout:       10 * time.Second,
		UploadTimeout:     30 * time.Second,
		MaxStorage:        1 << 30,
		MinFreeDisk:       256 << 20,
		PurgeEmptyRooms:   24 * time.Hour,
		purgeEvery:        time.Hour,
		retentionEvery:    24 * time.Hour,
		NotifyAfter:       2 * time.Minute,
	}
}

// parseFlags reads the command line over the defaults and the environment.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := DefaultConfig()
	if v := getenv("LIVECHAT_DB"); v != "" {
		c.DBPath = v
	}
	if v := getenv("LIVECHAT_ADDR"); v != "" {
		c.Addr = v
	}
	fs := flag.NewFlagSet("livechat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: livechat [flags]\n       livechat backup [--db FILE] DEST\n       livechat passwd [--db FILE] USERNAME\n\nServes the livechat API, websockets and pages.\n\nEnvironment: LIVECHAT_DB (the --db default), LIVECHAT_ADDR (the --addr default), LIVECHAT_SMTP (the --smtp default).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	origins := ""
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen `address`")
	fs.StringVar(&c.DBPath, "db", c.DBPath, "SQLite database `file` (env LIVECHAT_DB)")
	fs.StringVar(&c.Synchronous, "synchronous", c.Synchronous, "SQLite synchronous mode: NORMAL (safe against crashes) or FULL (also against power loss)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate `file` (serve HTTPS)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS key `file`")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", false, "mark the session cookie Secure (set when a proxy terminates TLS)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (behind a reverse proxy)")
	fs.StringVar(&origins, "allow-origins", "", "comma-separated extra `hosts` allowed to open websockets (patterns like *.example.com)")
	fs.Int64Var(&c.MaxBody, "max-body", c.MaxBody, "largest API request body in `bytes`")
	fs.Int64Var(&c.MaxPicture, "max-picture", c.MaxPicture, "largest chatbot picture in `bytes`")
	fs.Int64Var(&c.MaxUpload, "max-upload", c.MaxUpload, "largest chat file upload in `bytes`")
	fs.IntVar(&c.MaxContent, "max-content", c.MaxContent, "longest message in `characters`")
	fs.Int64Var(&c.MaxFrame, "max-frame", c.MaxFrame, "largest websocket frame from a client in `bytes`")
	fs.IntVar(&c.RateMessages, "rate-messages", c.RateMessages, "messages per --rate-window per socket (0 lifts the limit)")
	fs.DurationVar(&c.RateWindow, "rate-window", c.RateWindow, "the message rate window")
	fs.IntVar(&c.RateChatter, "rate-chatter", c.RateChatter, "typing frames and history fetches per --rate-window per socket (0 lifts the limit)")
	fs.IntVar(&c.RateStrikes, "rate-strikes", c.RateStrikes, "rate-limited messages in a row before the socket is closed")
	fs.IntVar(&c.SendQueue, "send-queue", c.SendQueue, "outgoing queue per socket, in `frames`")
	fs.IntVar(&c.AdminSendQueue, "admin-send-queue", c.AdminSendQueue, "outgoing queue per admin room socket, in `frames`")
	fs.DurationVar(&c.PingInterval, "ping-interval", c.PingInterval, "how often to ping sockets")
	fs.IntVar(&c.LoginFailures, "login-failures", c.LoginFailures, "failed logins per --login-window before 429")
	fs.DurationVar(&c.LoginWindow, "login-window", c.LoginWindow, "the failed-login window")
	fs.IntVar(&c.BcryptCost, "bcrypt-cost", c.BcryptCost, "bcrypt cost for password hashes")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", c.SessionLifetime, "how long a sign-in lasts")
	fs.StringVar(&c.Signup, "signup", c.Signup, "who may sign up a business: first (only while there is none), open (anyone) or closed")
	fs.IntVar(&c.RoomsPerAddress, "rooms-per-address", c.RoomsPerAddress, "new rooms per --rooms-window per client address (0 lifts the limit)")
	fs.DurationVar(&c.RoomsWindow, "rooms-window", c.RoomsWindow, "the new-room window")
	fs.IntVar(&c.SocketsPerAddress, "sockets-per-address", c.SocketsPerAddress, "open websockets per client address (0 lifts the limit)")
	fs.IntVar(&c.UploadsPerAddress, "uploads-per-address", c.UploadsPerAddress, "file uploads per --uploads-window per client address (0 lifts the limit)")
	fs.DurationVar(&c.UploadsWindow, "uploads-window", c.UploadsWindow, "the upload window")
	fs.IntVar(&c.UploadsInFlight, "uploads-in-flight", c.UploadsInFlight, "uploads at once per client address (0 lifts the limit)")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", c.BodyTimeout, "how long an API request body may take to arrive")
	fs.DurationVar(&c.UploadTimeout, "upload-timeout", c.UploadTimeout, "how long a file upload's body may take to arrive")
	fs.Int64Var(&c.MaxStorage, "max-storage", c.MaxStorage, "uploaded file `bytes` stored per business, then 507 (0 lifts the limit)")
	fs.Int64Var(&c.MinFreeDisk, "min-free-disk", c.MinFreeDisk, "free `bytes` on the database's filesystem below which uploads are refused with 507 (0 lifts it)")
	fs.DurationVar(&c.PurgeEmptyRooms, "purge-empty-rooms", c.PurgeEmptyRooms, "delete rooms that never got a message after this long (0 keeps them)")
	fs.StringVar(&c.GeoIP, "geoip", "", "offline GeoIP database `file` (MaxMind DB format, e.g. GeoLite2-Country.mmdb): the visitor panel shows the country")
	fs.StringVar(&c.Pprof, "pprof", "", "serve /debug/pprof on this loopback `address` (e.g. 127.0.0.1:6060)")
	fs.StringVar(&c.SMTP, "smtp", "", "mail server `URL`: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (env LIVECHAT_SMTP); empty: mail off")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "mail sender, \"Name <address>\"")
	fs.StringVar(&c.PublicURL, "public-url", "", "the `URL` the world uses to reach this server, for links in email and push (default from --addr)")
	fs.BoolVar(&c.PushInsecure, "push-insecure", false, "accept http:// push endpoints (tests only)")
	fs.DurationVar(&c.NotifyAfter, "notify-after", c.NotifyAfter, "email agents about visitor messages unread this long, and visitors about replies unseen this long")
	fs.StringVar(&c.BackupDir, "backup-dir", "", "take a consistent copy of the database into this `directory` once a day")
	fs.IntVar(&c.BackupKeep, "backup-keep", c.BackupKeep, "daily copies to keep in --backup-dir (the newest)")
	domains := ""
	fs.StringVar(&domains, "domain", "", "serve HTTPS for these comma-separated `hosts` with automatic certificates (ACME)")
	fs.StringVar(&c.HTTPSAddr, "https-addr", c.HTTPSAddr, "HTTPS listen `address` with --domain")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "plain-HTTP listen `address` with --domain: ACME HTTP-01 answers, redirects to HTTPS")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact `email` for the ACME account (expiry warnings)")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", c.ACMEDirectory, "ACME directory `URL`")
	fs.StringVar(&c.ACMERoots, "acme-ca-roots", "", "PEM `file` of extra CA roots to trust for --acme-directory (a private ACME CA)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this `address` (e.g. 127.0.0.1:9090)")
	fs.BoolVar(&c.MetricsPublic, "metrics-public", false, "allow a --metrics-addr that other machines can reach")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		// The flag package has printed the problem and the usage.
		return c, errUsage
	}
	var err error
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if c.SMTP == "" {
		// Not the flag's default: usage would print the password.
		c.SMTP = getenv("LIVECHAT_SMTP")
	}
	if err := checkMailConfig(c); err != nil {
		return c, err
	}
	if c.Domains, err = parseDomains(domains); err != nil {
		return c, err
	}
	if len(c.Domains) > 0 {
		if c.TLSCert != "" {
			return c, fmt.Errorf("--domain gets its certificates itself; leave out --tls-cert and --tls-key")
		}
		c.SecureCookies = true
	}
	if c.MetricsAddr != "" {
		if err := checkMetricsAddr(c.MetricsAddr, c.MetricsPublic); err != nil {
			return c, err
		}
	}
	if c.NotifyAfter < time.Second {
		return c, fmt.Errorf("--notify-after must be at least 1s (default 2m)")
	}
	if err := checkGeoIP(c.GeoIP); err != nil {
		return c, err
	}
	if c.BackupKeep < 1 {
		return c, fmt.Errorf("--backup-keep must be at least 1")
	}
	switch c.Signup {
	case signupFirst, signupOpen, signupClosed:
	default:
		return c, fmt.Errorf("--signup must be first, open or closed, not %q", c.Signup)
	}
	if c.BodyTimeout <= 0 || c.UploadTimeout <= 0 {
		return c, fmt.Errorf("--body-timeout and --upload-timeout must be positive")
	}
	if c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost {
		return c, fmt.Errorf("--bcrypt-cost must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost)
	}
	return c, nil
}
