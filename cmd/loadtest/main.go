// Command loadtest drives a livechat server over its public protocol, the
// way real visitors and an admin do, and reports delivery and latency
// figures. It only connects to the URL it is given, and refuses anything
// but a loopback address unless --allow-remote is set.
//
//	go run ./cmd/loadtest run     --visitors 5000 --rate 1000 --duration 60s --pid $(pgrep -n livechat)
//	go run ./cmd/loadtest seed    --user p4big --rooms 1000 --messages 50
//	go run ./cmd/loadtest query   --user p4big --history-user p4hist
//	go run ./cmd/loadtest startup --server ./livechat --db big.db
//	go run ./cmd/loadtest soak    --duration 30m --pid $(pgrep -n livechat) --pprof http://127.0.0.1:6060
//
// See docs/PERFORMANCE.md for the workloads and the figures.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

const usage = `Usage: loadtest <command> [flags]

Commands:
  run      visitors send messages to one admin; reports delivery, latency, server RSS/CPU
  seed     build a big database through the protocol (rooms x messages, files)
  query    time fetch_rooms, the REST rooms page and a 200-message history page
  startup  time a server binary from exec to its first 200 on /healthz
  soak     hours of light, varied traffic; samples server RSS, goroutines, threads, open files; says if they stay flat

Run "loadtest <command> -h" for the command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"run": cmdRun, "seed": cmdSeed, "query": cmdQuery, "startup": cmdStartup, "soak": cmdSoak,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := f(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// common are the flags every networked command shares.
type common struct {
	baseURL     string
	user        string
	password    string
	allowRemote bool
	deadline    time.Duration
	sourceIPs   int

	base    *url.URL
	clients []*http.Client // one per source address, no cookies
	jar     http.CookieJar
	admin   *http.Client // with the admin's session cookie
}

func (c *common) register(fs *flag.FlagSet, deadline time.Duration) {
	fs.StringVar(&c.baseURL, "url", "http://127.0.0.1:8000", "the server's base `URL`")
	fs.StringVar(&c.user, "user", "loadadmin", "admin `username` (signed up if new)")
	fs.StringVar(&c.password, "password", "load-test-password", "admin password")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a non-loopback server (only your own!)")
	fs.DurationVar(&c.deadline, "deadline", deadline, "hard limit on the whole command")
	fs.IntVar(&c.sourceIPs, "source-ips", 4, "spread connections over 127.0.0.1..N (loopback targets only)")
}

// setup checks the target, raises the open-file limit and builds clients.
func (c *common) setup() error {
	u, err := url.Parse(c.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: want http(s)://host:port", c.baseURL)
	}
	c.base = u
	host := u.Hostname()
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	loop4 := true
	for _, ip := range ips {
		if !ip.IsLoopback() {
			if !c.allowRemote {
				return fmt.Errorf("%s is not a loopback address; pass --allow-remote to load a server you own", host)
			}
			loop4 = false
		}
		if ip.To4() == nil {
			loop4 = false
		}
	}
	raiseNoFile()
	n := c.sourceIPs
	if !loop4 || n < 1 {
		n = 1
	}
	for i := 0; i < n; i++ {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: -1}
		if loop4 && c.sourceIPs > 1 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
		}
		tr := &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 64,
			// Websockets need HTTP/1.1.
			TLSNextProto: map[string]func(string, *tlsConn) http.RoundTripper{},
		}
		c.clients = append(c.clients, &http.Client{Transport: tr})
	}
	c.jar, _ = cookiejar.New(nil)
	c.admin = &http.Client{Transport: c.clients[0].Transport, Jar: c.jar, Timeout: 60 * time.Second}
	return nil
}

// raiseNoFile lifts the soft open-file limit to the hard one.
func raiseNoFile() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

// wsURL turns an API path into a ws(s) URL.
func (c *common) wsURL(path string) string {
	u := *c.base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = path
	return u.String()
}

func (c *common) httpURL(path string) string {
	u := *c.base
	u.Path = path
	return u.String()
}

// signIn signs the admin up, or in when the name is taken, keeping the
// session cookie in c.jar.
func (c *common) signIn(ctx context.Context, user string) error {
	body, _ := json.Marshal(map[string]string{"username": user, "password": c.password})
	status, resp, err := c.postJSON(ctx, "/accounts/api/signup", body)
	if err != nil {
		return err
	}
	if status == http.StatusCreated {
		return nil
	}
	if status != http.StatusConflict {
		return fmt.Errorf("signup %s: %d %s", user, status, resp)
	}
	status, resp, err = c.postJSON(ctx, "/accounts/api/login", body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("login %s: %d %s", user, status, resp)
	}
	return nil
}

func (c *common) postJSON(ctx context.Context, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.httpURL(path), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.admin.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, nil
}

// jsonStringField returns the raw (still escaped) string value following
// key (which includes the opening quote of the value, e.g. `"command":"`),
// or nil. The tool's own strings carry no escapes, so this is enough to
// pick command and client_id out of a frame without a full decode.
func jsonStringField(frame []byte, key string) []byte {
	i := bytes.Index(frame, []byte(key))
	if i < 0 {
		return nil
	}
	rest := frame[i+len(key):]
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '"':
			return rest[:j]
		}
	}
	return nil
}

// counter counts error kinds from many goroutines.
type counter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counter) add(kind string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[kind]++
	c.mu.Unlock()
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// errKind shortens an error to a countable kind.
func errKind(prefix string, err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "broken pipe", "too many open files",
		"cannot assign requested address", "deadline exceeded", "i/o timeout", "EOF", "status code"} {
		if strings.Contains(s, k) {
			if k == "status code" {
				if i := strings.Index(s, "status code"); i >= 0 {
					return prefix + ": " + strings.TrimSpace(s[i:min(len(s), i+16)])
				}
			}
			return prefix + ": " + k
		}
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return prefix + ": " + s
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
