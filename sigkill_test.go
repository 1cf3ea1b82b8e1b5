package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSIGKILLLosesNoAcknowledgedMessage is issue 12's kill -9 guarantee as a
// test: the real program (run(), in a child process: this test binary
// re-executed) serves several visitors who send as fast as their echoes
// come back; the child is killed with SIGKILL several times at random
// moments and restarted on the same file. The visitors reconnect and re-send,
// with the same client_id, every message they have not seen echoed. At the
// end every message the server echoed (acknowledged) is stored exactly once,
// in each room in the order it was sent, and no message is stored twice.
// synchronous is the default, FULL.
func TestSIGKILLLosesNoAcknowledgedMessage(t *testing.T) {
	if os.Getenv("LIVECHAT_SIGKILL_CHILD") != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("starts and kills a server process several times")
	}
	path := filepath.Join(t.TempDir(), "livechat.db")
	k := &killableServer{t: t, path: path}
	k.start()
	t.Cleanup(k.kill)

	owner := &testClient{t: t, base: k.url(), HTTP: &http.Client{Timeout: 10 * time.Second}}
	owner.HTTP.Jar, _ = cookiejar.New(nil)
	owner.signup("acme")

	const visitors = 6
	const window = 4           // messages in flight per visitor
	const maxPerVisitor = 3000 // bounds the test's size (paced, it is not reached)
	stop := make(chan struct{})
	results := make([]*killVisitor, visitors)
	var wg sync.WaitGroup
	for i := range results {
		v := &killVisitor{k: k, consumer: fmt.Sprintf("visitor-%d", i), window: window, max: maxPerVisitor}
		results[i] = v
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.run(stop)
		}()
	}

	// Let the load start, then kill the server 4 times at random moments,
	// restarting it on the same file each time.
	time.Sleep(500 * time.Millisecond)
	const kills = 4
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		k.kill()
		k.start()
	}
	time.Sleep(700 * time.Millisecond) // load on the last server too
	close(stop)
	wg.Wait()

	// Check through the API of the last server.
	owner = &testClient{t: t, base: k.url(), HTTP: &http.Client{Timeout: 10 * time.Second}}
	owner.HTTP.Jar, _ = cookiejar.New(nil)
	owner.must(http.StatusOK, "POST", "/accounts/api/login", map[string]string{"username": "acme", "password": testPassword})
	totalAcked, totalReconnects, totalResent := 0, 0, 0
	for _, v := range results {
		r := owner.must(http.StatusOK, "GET", "/chatbot/api/rooms/"+v.consumer+"/export", nil)
		var export struct {
			Messages []Message `json:"messages"`
		}
		if err := json.Unmarshal(r.Body, &export); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		last := -1
		for _, m := range export.Messages {
			seen[m.ClientID]++
			n, err := strconv.Atoi(strings.TrimPrefix(m.ClientID, v.consumer+"-"))
			if err != nil {
				t.Fatalf("%s: stored message with client_id %q", v.consumer, m.ClientID)
			}
			if m.Content != "message "+strconv.Itoa(n) {
				t.Errorf("%s: client_id %s stored with content %q", v.consumer, m.ClientID, m.Content)
			}
			if n <= last {
				t.Errorf("%s: message %d stored after message %d (out of order or twice)", v.consumer, n, last)
			}
			last = n
		}
		for id, c := range seen {
			if c > 1 {
				t.Errorf("%s: %s stored %d times", v.consumer, id, c)
			}
		}
		lost := 0
		for _, id := range v.acked {
			if seen[id] != 1 {
				lost++
				if lost <= 5 {
					t.Errorf("%s: acknowledged message %s stored %d times", v.consumer, id, seen[id])
				}
			}
		}
		if lost > 0 {
			t.Errorf("%s: %d of %d acknowledged messages lost", v.consumer, lost, len(v.acked))
		}
		if len(v.acked) == 0 {
			t.Errorf("%s: no message was acknowledged: the load never ran", v.consumer)
		}
		if v.sent >= v.max {
			t.Errorf("%s sent all its %d messages before the end: the load stopped before the kills did", v.consumer, v.max)
		}
		totalAcked += len(v.acked)
		totalReconnects += v.reconnects
		totalResent += v.resent
	}
	if totalReconnects < visitors*kills/2 {
		t.Errorf("only %d reconnects over %d kills: the kills did not land during the load", totalReconnects, kills)
	}
	if totalResent == 0 {
		t.Error("no kill caught a message in flight: nothing was re-sent")
	}
	t.Logf("%d kills, %d acknowledged messages from %d visitors, %d reconnects, %d messages re-sent", kills, totalAcked, visitors, totalReconnects, totalResent)
}

// TestSIGKILLChildProcess is the server process of
// TestSIGKILLLosesNoAcknowledgedMessage: the real program, until killed.
func TestSIGKILLChildProcess(t *testing.T) {
	if os.Getenv("LIVECHAT_SIGKILL_CHILD") == "" {
		t.Skip("run by TestSIGKILLLosesNoAcknowledgedMessage")
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{
			"--addr", "127.0.0.1:0", "--db", os.Getenv("CHILD_DB"),
			"--bcrypt-cost", "4", "--signup", "open",
			"--rate-messages", "0", "--rooms-per-address", "0", "--sockets-per-address", "0",
		}, func(string) string { return "" }, io.Discard, io.Discard, ready)
	}()
	select {
	case addr := <-ready:
		fmt.Printf("CHILD_ADDR=%s\n", addr)
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("run returned: %v", err)
	case <-time.After(2 * time.Minute): // killed long before
		t.Fatal("not killed")
	}
}

// killableServer is the child process serving the database file.
type killableServer struct {
	t    *testing.T
	path string
	mu   sync.Mutex
	cmd  *exec.Cmd
	addr atomic.Value // string
}

func (k *killableServer) url() string { return "http://" + k.addr.Load().(string) }

// start runs a new child on the file and waits for its address.
func (k *killableServer) start() {
	k.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChildProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "LIVECHAT_SIGKILL_CHILD=1", "CHILD_DB="+k.path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		k.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "CHILD_ADDR="); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			cmd.Wait()
			k.t.Fatal("the child exited without serving")
		}
		k.addr.Store(a)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		k.t.Fatal("the child did not start serving")
	}
	k.mu.Lock()
	k.cmd = cmd
	k.mu.Unlock()
}

// kill sends SIGKILL to the child and reaps it.
func (k *killableServer) kill() {
	k.mu.Lock()
	cmd := k.cmd
	k.cmd = nil
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
}

// killVisitor sends numbered messages with client_ids in one room,
// window at a time, and records the ones the server echoed, in order.
type killVisitor struct {
	k          *killableServer
	consumer   string
	window     int
	max        int
	acked      []string
	reconnects int
	resent     int // messages sent again after a reconnect
	sent       int // distinct messages sent
}

func (v *killVisitor) run(stop <-chan struct{}) {
	next := 0
	var pending []int // sent, not yet echoed, in order
	first := true
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(v.k.url(), "http")+"/ws/chat/acme/"+v.consumer, nil)
		cancel()
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !first {
			v.reconnects++
		}
		first = false
		v.session(conn, &next, &pending, stop)
		conn.CloseNow()
	}
}

// session serves one connection until it breaks or the test stops:
// re-send what is pending, then keep window messages in flight.
func (v *killVisitor) session(conn *websocket.Conn, next *int, pending *[]int, stop <-chan struct{}) {
	send := func(n int) bool {
		b, _ := json.Marshal(map[string]any{"command": "new_message", "message": map[string]any{
			"content": "message " + strconv.Itoa(n), "client_id": v.consumer + "-" + strconv.Itoa(n)}})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return conn.Write(ctx, websocket.MessageText, b) == nil
	}
	if len(*pending) > 0 {
		v.resent += len(*pending)
	}
	for _, n := range *pending {
		if !send(n) {
			return
		}
	}
	frames := make(chan frame, 16)
	go func() {
		defer close(frames)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(b, &f) == nil {
				frames <- f
			}
		}
	}()
	for {
		for len(*pending) < v.window && *next < v.max {
			select {
			case <-stop:
				return
			default:
			}
			if !send(*next) {
				return
			}
			*pending = append(*pending, *next)
			*next++
			v.sent = *next
			time.Sleep(3 * time.Millisecond) // paced, so the load lasts until the end
		}
		select {
		case <-stop:
			return
		case f, ok := <-frames:
			if !ok {
				return
			}
			if f.str("command") != "new_message" {
				continue
			}
			id := f.msg().str("client_id")
			for i, n := range *pending {
				if id == v.consumer+"-"+strconv.Itoa(n) {
					// The echo of a message acknowledges it.
					v.acked = append(v.acked, id)
					*pending = append((*pending)[:i:i], (*pending)[i+1:]...)
					break
				}
			}
		case <-time.After(3 * time.Second):
			return // a server that stopped answering: reconnect
		}
	}
}
