// Command wsclient is a minimal websocket client for trying livechat's
// protocol by hand: it sends each line of standard input as one text frame
// and prints every frame it receives, one per line.
//
//	go run ./cmd/wsclient ws://127.0.0.1:8000/ws/chat/acme/visitor-1
//
// Type frames (one JSON object per line); Ctrl+D ends the input, and the
// client waits --wait for the last answers before it closes. It sends no
// Origin header, which livechat accepts from non-browser clients.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/coder/websocket"
)

func main() {
	wait := flag.Duration("wait", time.Second, "how long to keep reading after the input ends")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: wsclient [--wait 1s] ws://HOST/ws/chat/USERNAME/CONSUMER")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, flag.Arg(0), *wait); err != nil {
		fmt.Fprintln(os.Stderr, "wsclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, wait time.Duration) error {
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(dialCtx, url, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20)

	// Print every frame until the connection ends.
	done := make(chan error, 1)
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				done <- err
				return
			}
			fmt.Println(string(data))
		}
	}()

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				// Input ended: collect the last answers, then close.
				select {
				case err := <-done:
					return closed(err)
				case <-time.After(wait):
					return conn.Close(websocket.StatusNormalClosure, "")
				}
			}
			if line == "" {
				continue
			}
			if err := conn.Write(ctx, websocket.MessageText, []byte(line)); err != nil {
				return err
			}
		case err := <-done:
			return closed(err)
		case <-ctx.Done():
			return conn.Close(websocket.StatusNormalClosure, "")
		}
	}
}

// closed turns the end of the connection into an error only when it was
// not a normal close.
func closed(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Code == websocket.StatusNormalClosure || ce.Code == websocket.StatusGoingAway {
			return nil
		}
		return fmt.Errorf("closed by the server: %d %s", ce.Code, ce.Reason)
	}
	return err
}
