package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// StartupReport is the JSON line "startup" prints (P5).
type StartupReport struct {
	Binary      string    `json:"binary"`
	BinaryBytes int64     `json:"binary_bytes"`
	DB          string    `json:"db"`
	DBBytes     int64     `json:"db_bytes"`
	RunsMs      []float64 `json:"runs_ms"`
	MedianMs    float64   `json:"median_ms"`
	MaxMs       float64   `json:"max_ms"`
	ServerSays  []string  `json:"server_says"`
}

func cmdStartup(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	bin := fs.String("server", "./livechat", "the server `binary`")
	db := fs.String("db", "livechat.db", "the database `file` to start on")
	repeat := fs.Int("repeat", 5, "starts to time")
	extra := fs.String("server-args", "", "more server flags, space separated")
	deadline := fs.Duration("deadline", 2*time.Minute, "hard limit on the whole command")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	rep := StartupReport{Binary: *bin, DB: *db}
	fi, err := os.Stat(*bin)
	if err != nil {
		return err
	}
	rep.BinaryBytes = fi.Size()
	if fi, err = os.Stat(*db); err != nil {
		return err
	}
	rep.DBBytes = fi.Size()
	if fi, err := os.Stat(*db + "-wal"); err == nil {
		rep.DBBytes += fi.Size()
	}
	var runs []float64
	for i := 0; i < *repeat && ctx.Err() == nil; i++ {
		d, said, err := timeStart(ctx, *bin, *db, strings.Fields(*extra))
		if err != nil {
			return err
		}
		runs = append(runs, ms(d))
		rep.ServerSays = append(rep.ServerSays, said)
	}
	rep.RunsMs = runs
	s := slices.Clone(runs)
	slices.Sort(s)
	if len(s) > 0 {
		rep.MedianMs = s[len(s)/2]
		rep.MaxMs = s[len(s)-1]
	}
	b, _ := json.Marshal(rep)
	fmt.Println(string(b))
	fmt.Fprintf(os.Stderr, "binary %s: %.1f MiB; database %.1f MiB; start to first 200 on /healthz: median %.1f ms, max %.1f ms, runs %v\n",
		rep.Binary, float64(rep.BinaryBytes)/(1<<20), float64(rep.DBBytes)/(1<<20), rep.MedianMs, rep.MaxMs, runs)
	return nil
}

// timeStart execs the server on a free loopback port and polls /healthz
// until it answers 200; the time is from just before exec.
func timeStart(ctx context.Context, bin, db string, extra []string) (time.Duration, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"--addr", addr, "--db", db}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = nil
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	said := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := ""
		for sc.Scan() {
			if first == "" {
				first = sc.Text()
				said <- first
			}
		}
	}()
	for ctx.Err() == nil {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d := time.Since(t0)
				line := ""
				select {
				case line = <-said:
				case <-time.After(time.Second):
				}
				return d, line, nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, "", ctx.Err()
}
