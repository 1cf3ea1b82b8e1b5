package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// seedOpts are the flags of "seed".
type seedOpts struct {
	common
	accounts     int
	rooms        int
	messages     int
	conc         int
	window       int
	contentBytes int
	files        int
	fileBytes    int
}

type seedRoom struct{ user, consumer string }

func cmdSeed(args []string) error {
	var o seedOpts
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	o.register(fs, 30*time.Minute)
	fs.IntVar(&o.accounts, "accounts", 1, "accounts to fill: --user itself when 1, else <user>0..<user>N-1")
	fs.IntVar(&o.rooms, "rooms", 100, "rooms (visitors) per account")
	fs.IntVar(&o.messages, "messages", 50, "messages per room")
	fs.IntVar(&o.conc, "concurrency", 100, "rooms filled at once")
	fs.IntVar(&o.window, "window", 16, "messages in flight per socket (keep below the server's --send-queue)")
	fs.IntVar(&o.contentBytes, "content-bytes", 60, "message content length")
	fs.IntVar(&o.files, "files", 0, "files to upload after the messages, spread over the rooms")
	fs.IntVar(&o.fileBytes, "file-bytes", 5<<20, "size of each uploaded file (random, incompressible)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.setup(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.deadline)
	defer cancel()
	return o.run(ctx)
}

func (o *seedOpts) run(ctx context.Context) error {
	var users []string
	for a := 0; a < o.accounts; a++ {
		u := o.user
		if o.accounts > 1 {
			u = fmt.Sprintf("%s%d", o.user, a)
		}
		if err := o.signIn(ctx, u); err != nil {
			return err
		}
		users = append(users, u)
	}
	jobs := make(chan seedRoom)
	var errs counter
	var msgs, rooms atomic.Int64
	var done []seedRoom
	var doneMu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var i int
			for r := range jobs {
				i++
				n, err := o.fillRoom(ctx, o.clients[i%len(o.clients)], r)
				msgs.Add(int64(n))
				if err != nil {
					errs.add(err.Error())
					continue
				}
				rooms.Add(1)
				doneMu.Lock()
				done = append(done, r)
				doneMu.Unlock()
			}
		}()
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
feed:
	for _, u := range users {
		for i := 0; i < o.rooms; i++ {
			select {
			case jobs <- seedRoom{user: u, consumer: uuid.NewString()}:
			case <-progress.C:
				el := time.Since(start).Seconds()
				fmt.Fprintf(os.Stderr, "seed: %d rooms, %d messages, %.0f msgs/s\n", rooms.Load(), msgs.Load(), float64(msgs.Load())/el)
				i--
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf(`{"seed_accounts":%d,"rooms":%d,"messages":%d,"seconds":%.2f,"msgs_per_s":%.0f,"errors":%d}`+"\n",
		len(users), rooms.Load(), msgs.Load(), el.Seconds(), float64(msgs.Load())/el.Seconds(), len(errs.snapshot()))
	for k, v := range errs.snapshot() {
		fmt.Fprintf(os.Stderr, "seed error %s: %d\n", k, v)
	}
	if o.files > 0 && len(done) > 0 {
		if err := o.upload(ctx, done); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// fillRoom opens the visitor socket (which creates the room) and sends
// o.messages messages with at most o.window unanswered.
func (o *seedOpts) fillRoom(ctx context.Context, hc *http.Client, r seedRoom) (int, error) {
	c, resp, err := websocket.Dial(ctx, o.wsURL("/ws/chat/"+r.user+"/"+r.consumer), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		if resp != nil {
			return 0, fmt.Errorf("dial: http %d", resp.StatusCode)
		}
		return 0, fmt.Errorf("%s", errKind("dial", err))
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 24)
	slots := make(chan struct{}, o.window)
	got := make(chan error, 1)
	go func() {
		seen := 0
		for seen < o.messages {
			_, b, err := c.Read(ctx)
			if err != nil {
				got <- fmt.Errorf("visitor socket: %s", closeKind(err))
				return
			}
			switch string(jsonStringField(b, `"command":"`)) {
			case "new_message":
				seen++
				<-slots
			case "error":
				got <- fmt.Errorf("error frame: %s", jsonStringField(b, `"error":"`))
				return
			}
		}
		got <- nil
	}()
	var buf []byte
	sent := 0
	for i := 0; i < o.messages; i++ {
		select {
		case slots <- struct{}{}:
		case err := <-got:
			return sent, err
		}
		buf = append(buf[:0], `{"command":"new_message","message":{"content":"seed message `...)
		n := len(buf)
		buf = appendInt(buf, int64(i))
		for len(buf)-n < o.contentBytes-13 {
			buf = append(buf, " lorem ipsum"[len(buf)%12])
		}
		buf = append(buf, `","client_id":"S`...)
		buf = appendInt(buf, int64(i))
		buf = append(buf, `"}}`...)
		if err := c.Write(ctx, websocket.MessageText, buf); err != nil {
			return sent, fmt.Errorf("%s", errKind("write", err))
		}
		sent++
	}
	if err := <-got; err != nil {
		return sent, err
	}
	c.Close(websocket.StatusNormalClosure, "")
	return sent, nil
}

// upload posts o.files random files as the rooms' visitors.
func (o *seedOpts) upload(ctx context.Context, rooms []seedRoom) error {
	start := time.Now()
	var bytesUp atomic.Int64
	var errs counter
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, o.fileBytes)
			for i := range jobs {
				rand.Read(buf)
				r := rooms[i%len(rooms)]
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				mw.WriteField("room", r.user+" "+r.consumer)
				fw, _ := mw.CreateFormFile("file", fmt.Sprintf("blob-%d.bin", i))
				fw.Write(buf)
				mw.Close()
				req, _ := http.NewRequestWithContext(ctx, "POST", o.httpURL("/chatbot/message/file/upload"), &body)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				resp, err := o.clients[0].Do(req)
				if err != nil {
					errs.add(errKind("upload", err))
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs.add(fmt.Sprintf("upload: http %d", resp.StatusCode))
					continue
				}
				bytesUp.Add(int64(len(buf)))
			}
		}()
	}
	for i := 0; i < o.files && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf(`{"uploaded_bytes":%d,"seconds":%.2f,"mib_per_s":%.1f}`+"\n", bytesUp.Load(), el.Seconds(), float64(bytesUp.Load())/(1<<20)/el.Seconds())
	for k, v := range errs.snapshot() {
		fmt.Fprintf(os.Stderr, "upload error %s: %d\n", k, v)
	}
	return nil
}
