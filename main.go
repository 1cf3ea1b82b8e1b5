// Command livechat is a self-hosted live-chat appliance: one binary that
// serves the API, the websockets and the pages, and keeps everything in one
// SQLite file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "livechat:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run is the whole program: parse flags, open the database, listen, serve
// until ctx ends, then shut down. ready, when not nil, receives the
// listening address (tests use --addr 127.0.0.1:0).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	if ok, err := runSubcommand(ctx, args, getenv, stdout, stderr); ok {
		return err
	}
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	start := time.Now()
	db, err := OpenDB(ctx, cfg.DBPath, cfg.Synchronous)
	if err != nil {
		return err
	}
	defer db.Close()
	if up := db.Upgraded; up != nil {
		logger.Info("database upgraded; the file as it was is kept", "from_version", up.From, "to_version", up.To, "copy", up.Copy)
	}

	if cfg.BackupDir != "" {
		defer startDailyBackups(db, cfg.BackupDir, cfg.BackupKeep, logger)()
	}

	srv := NewServer(cfg, db, logger)
	defer srv.Close()

	// Listen first, so a taken port is a clear error before we say we serve.
	listenAddr := cfg.Addr
	if len(cfg.Domains) > 0 {
		listenAddr = cfg.HTTPSAddr
	}
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listenAddr, err)
	}
	scheme := "http"
	handler := srv.Handler()
	if cfg.TLSCert != "" || len(cfg.Domains) > 0 {
		scheme = "https"
		handler = hsts(handler)
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutdown does not touch hijacked (websocket) connections: close them
	// with 1001 ourselves.
	hs.RegisterOnShutdown(srv.CloseSockets)

	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, srv.metrics, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}

	if cfg.Pprof != "" {
		stopPprof, err := servePprof(cfg.Pprof, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopPprof()
	}

	if len(cfg.Domains) > 0 {
		auto, err := startAutoTLS(cfg, db, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer auto.Close()
		hs.TLSConfig = auto.TLSConfig
	}

	serveErr := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" || hs.TLSConfig != nil {
			serveErr <- hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			serveErr <- hs.Serve(ln)
		}
	}()
	where := ln.Addr().String()
	if len(cfg.Domains) > 0 {
		where = cfg.Domains[0] + " (listening on " + where + ")"
	}
	fmt.Fprintf(stdout, "livechat serving on %s://%s (database %s, started in %s)\n", scheme, where, cfg.DBPath, time.Since(start).Round(time.Millisecond))
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	return nil
}

// servePprof serves the Go profiler on a loopback address only.
func servePprof(addr string, logger *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--pprof must be a loopback address, not %s", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go ps.Serve(ln)
	logger.Info("pprof serving", "addr", ln.Addr().String())
	return func() { ps.Close() }, nil
}
