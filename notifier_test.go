package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testNotifyAfter is --notify-after in these tests: short, yet long
// enough for a test to read a reply in time on a loaded machine.
const testNotifyAfter = 400 * time.Millisecond

// notifyServer is mailServer with a short --notify-after, the message rate
// limit lifted and extra options.
func notifyServer(t *testing.T, st *smtpTestServer, opts ...func(*Config)) *testServer {
	t.Helper()
	opts = append([]func(*Config){chatConfig, func(c *Config) {
		c.SMTP = st.URL(false)
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.PublicURL = "https://chat.acme.example"
		c.NotifyAfter = testNotifyAfter
	}}, opts...)
	ts := newTestServerAt(t, filepath.Join(t.TempDir(), "livechat.db"), opts...)
	tuneOutbox(ts.Server.outbox, st.Client)
	return ts
}

// mailsTo is what the SMTP server got for one address, parsed.
func mailsTo(t *testing.T, st *smtpTestServer, addr string) []*mail.Message {
	t.Helper()
	var out []*mail.Message
	for _, r := range st.Received() {
		if len(r.To) == 1 && r.To[0] == addr {
			m, err := mail.ReadMessage(bytes.NewReader(r.Data))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// waitMails waits until addr has n emails and returns them; it fails the
// test if it does not within d.
func waitMails(t *testing.T, st *smtpTestServer, addr string, n int, d time.Duration) []*mail.Message {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := mailsTo(t, st, addr)
		if len(got) >= n {
			if len(got) > n {
				t.Fatalf("%s got %d emails, want %d", addr, len(got), n)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d emails in %s, want %d", addr, len(got), d, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// quiet waits a few notify-after periods and checks that addr still has
// exactly n emails.
func quiet(t *testing.T, st *smtpTestServer, addr string, n int) {
	t.Helper()
	time.Sleep(4 * testNotifyAfter)
	if got := mailsTo(t, st, addr); len(got) != n {
		t.Fatalf("%s has %d emails, want still %d", addr, len(got), n)
	}
}

// mailText is the plain-text part of a notification, line breaks as \n.
func mailText(t *testing.T, m *mail.Message) string {
	t.Helper()
	return strings.ReplaceAll(mimeParts(t, m)["text/plain"], "\r\n", "\n")
}

// TestNotifyStory is issue 10's story over a real SMTP server: outside
// hours a visitor writes and gets the away message once; the owner, with
// no inbox open, is emailed within notify-after, at most once per 30
// minutes per conversation; the owner replies; the visitor, who closed the
// window, is emailed the reply (not the away message, not a private note)
// with a link that opens the same conversation, and a one-click
// unsubscribe that stops further mail.
func TestNotifyStory(t *testing.T) {
	st := startSMTP(t, false, "")
	ts := notifyServer(t, st)
	owner := ts.client().signup("acme")
	owner.must(200, "PATCH", "/accounts/api/me", map[string]any{"email": "owner@acme.example"})
	owner.must(200, "POST", "/chatbot/api", map[string]any{"hours": parisWeekdays, "chatbotName": "Acme <Bikes>"})
	ts.setClock(t, "2026-12-07 18:00") // Monday evening: closed

	// The visitor leaves an email and writes; the away message comes once.
	rooms := ts.dialWS("/ws/room/acme", nil)
	rooms.send(map[string]any{"command": "new_room", "consumer": "vera-1", "email": "vera@visitor.example"})
	rooms.expect("new_room")
	vis := ts.dialWS("/ws/chat/acme/vera-1", nil)
	written := time.Now()
	vis.say("anyone there? <b>bold</b>")
	if m := vis.expect("new_message").msg(); m["auto"] != true {
		t.Fatalf("want the away message, got %v", m)
	}

	// The owner is emailed within notify-after (plus a scan and a send).
	got := waitMails(t, st, "owner@acme.example", 1, 5*time.Second)[0]
	if took := time.Since(written); took > testNotifyAfter+2*time.Second {
		t.Errorf("the owner's email took %s", took)
	}
	if got.Header.Get("Subject") != "New message from vera@visitor.example on Acme <Bikes>" || got.Header.Get("Reply-To") != "<vera@visitor.example>" {
		t.Errorf("agent email headers: %v", got.Header)
	}
	text := mailText(t, got)
	for _, want := range []string{"anyone there? <b>bold</b>", "Answer in your inbox: https://chat.acme.example/messages#c=vera-1"} {
		if !strings.Contains(text, want) {
			t.Errorf("agent email lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, defaultAwayMessage) {
		t.Errorf("agent email quotes the away message:\n%s", text)
	}

	// More messages within 30 minutes (and no second away message): no
	// email yet; 30 minutes later, still unread, one with only the new
	// messages.
	vis.say("my bike is broken")
	vis.say("hello??")
	vis.probe()
	quiet(t, st, "owner@acme.example", 1)
	ts.clock.Advance(31 * time.Minute)
	got = waitMails(t, st, "owner@acme.example", 2, 5*time.Second)[1]
	if text := mailText(t, got); got.Header.Get("Subject") != "2 new messages from vera@visitor.example on Acme <Bikes>" ||
		!strings.Contains(text, "my bike is broken") || !strings.Contains(text, "hello??") || strings.Contains(text, "anyone there?") {
		t.Errorf("the held-back email (%s):\n%s", got.Header.Get("Subject"), text)
	}
	// The visitor got nothing so far: the away message is never mailed.
	if n := len(mailsTo(t, st, "vera@visitor.example")); n != 0 {
		t.Fatalf("the visitor got %d emails before any reply", n)
	}

	// The visitor closes the window; the owner replies, and writes a
	// private note (stored as the inbox stores one).
	vis.conn.CloseNow()
	agent := ts.dialWS("/ws/chat/acme/vera-1", owner)
	reply := agent.say("We'll fix it <tomorrow> & call you")
	if _, err := ts.DB.writer.Exec(`INSERT INTO messages (room_id, author, content, created, agent_id, agent, private)
		SELECT id, 'acme', 'note: customer is grumpy', ?, ?, 'acme', 1 FROM rooms WHERE consumer = 'vera-1'`,
		ts.DB.nowMillis(), reply.num("agent_id")); err != nil {
		t.Fatal(err)
	}
	got = waitMails(t, st, "vera@visitor.example", 1, 5*time.Second)[0]
	if got.Header.Get("Subject") != "Acme <Bikes> answered you" || got.Header.Get("Reply-To") != "<owner@acme.example>" ||
		got.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Errorf("visitor email headers: %v", got.Header)
	}
	parts := mimeParts(t, got)
	text = strings.ReplaceAll(parts["text/plain"], "\r\n", "\n")
	if !strings.Contains(text, "We'll fix it <tomorrow> & call you") || strings.Contains(text, "grumpy") || strings.Contains(text, defaultAwayMessage) {
		t.Errorf("visitor email text:\n%s", text)
	}
	if strings.Contains(parts["text/html"], "<tomorrow>") || !strings.Contains(parts["text/html"], "&lt;tomorrow&gt; &amp; call you") {
		t.Errorf("visitor email HTML does not escape:\n%s", parts["text/html"])
	}
	link := regexp.MustCompile(`Open the conversation: (\S+)`).FindStringSubmatch(text)
	unsub := regexp.MustCompile(`^<https://chat\.acme\.example(/unsubscribe/[A-Za-z0-9_-]{22})>$`).FindStringSubmatch(got.Header.Get("List-Unsubscribe"))
	if link == nil || link[1] != "https://chat.acme.example/chatbot/acme/vera-1" || unsub == nil {
		t.Fatalf("link %v, List-Unsubscribe %q", link, got.Header.Get("List-Unsubscribe"))
	}

	// The link works: the page opens, and its conversation has the reply.
	path := strings.TrimPrefix(link[1], "https://chat.acme.example")
	anon := ts.client()
	if r := anon.do("GET", path, nil); r.Status != 200 || !strings.Contains(string(r.Body), "vera-1") {
		t.Fatalf("GET %s: %d", path, r.Status)
	}
	back := ts.dialWS("/ws"+strings.Replace(path, "/chatbot/", "/chat/", 1), nil)
	agent.expect("presence")
	back.send(map[string]any{"command": "fetch_messages", "limit": 50})
	var found bool
	for _, m := range back.expect("messages")["messages"].([]any) {
		found = found || m.(map[string]any)["id"] == float64(reply.num("id"))
	}
	if !found {
		t.Fatalf("the conversation behind the link lacks the reply %d", reply.num("id"))
	}
	// Back in the window the visitor reads the next reply: not mailed.
	next := agent.say("Still there?")
	if m := back.expect("new_message").msg(); m.num("id") != next.num("id") {
		t.Fatalf("visitor got %v", m)
	}
	back.send(map[string]any{"command": "read", "up_to": next.num("id")})
	quiet(t, st, "vera@visitor.example", 1)

	// Unsubscribe: the page changes nothing, its button (or the mail
	// provider's one-click POST) stops further mail.
	if r := anon.do("GET", "/unsubscribe/nosuchtoken", nil); r.Status != 404 {
		t.Errorf("unknown token: %d", r.Status)
	}
	r := anon.do("GET", unsub[1], nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `<form method="post" action="`+unsub[1]+`">`) ||
		!strings.Contains(string(r.Body), "Acme &lt;Bikes&gt;") {
		t.Fatalf("unsubscribe page %d:\n%s", r.Status, r.Body)
	}
	back.conn.CloseNow()
	agent.expect("read")
	agent.expect("presence")
	agent.say("One more thing")
	waitMails(t, st, "vera@visitor.example", 2, 5*time.Second)
	// RFC 8058: a POST with List-Unsubscribe=One-Click, from anywhere.
	r = anon.do("POST", unsub[1], "List-Unsubscribe=One-Click", "Origin", "https://mail.example", "Sec-Fetch-Site", "cross-site")
	if r.Status != 200 || !strings.Contains(string(r.Body), "You are unsubscribed") {
		t.Fatalf("one-click unsubscribe %d:\n%s", r.Status, r.Body)
	}
	if r := anon.do("GET", unsub[1], nil); !strings.Contains(string(r.Body), "You are unsubscribed") {
		t.Errorf("the page after unsubscribing:\n%s", r.Body)
	}
	agent.say("Hello again")
	quiet(t, st, "vera@visitor.example", 2)
	// The owner's mail is unaffected by the visitor's choice.
	var n int
	if err := ts.DB.reader.QueryRowContext(context.Background(), "SELECT count(*) FROM agent_notices").Scan(&n); err != nil || n != 1 {
		t.Errorf("agent_notices: %d rows (%v)", n, err)
	}
}

// TestInviteMailed: an invitation with an email is mailed with its join
// link, queued with the invitation; one without an email is not.
func TestInviteMailed(t *testing.T) {
	st := startSMTP(t, false, "")
	ts := notifyServer(t, st)
	owner := ts.client().signup("acme")
	owner.must(200, "PATCH", "/accounts/api/me", map[string]any{"email": "owner@acme.example", "name": "Olga"})
	inv := owner.must(201, "POST", "/accounts/api/invites", map[string]any{"email": "sam@acme.example", "name": "Sam <S>"}).JSON["invite"].(map[string]any)
	owner.must(201, "POST", "/accounts/api/invites", map[string]any{"name": "No Mail"})
	got := waitMails(t, st, "sam@acme.example", 1, 5*time.Second)[0]
	if got.Header.Get("Subject") != "Join acme on livechat" || got.Header.Get("Reply-To") != "<owner@acme.example>" {
		t.Errorf("invite headers: %v", got.Header)
	}
	text := mailText(t, got)
	if !strings.Contains(text, "Olga invites you") || !strings.Contains(text, "https://chat.acme.example/join/"+inv["token"].(string)) {
		t.Errorf("invite text:\n%s", text)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(st.Received()); n != 1 {
		t.Errorf("%d emails, want only the one invitation with an address", n)
	}
}

// TestNotifyMailOff: with mail off the notifier still moves on, so
// turning mail on later mails nothing old.
func TestNotifyMailOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "livechat.db")
	ts := newTestServerAt(t, path, chatConfig, func(c *Config) { c.NotifyAfter = testNotifyAfter })
	owner := ts.client().signup("acme")
	owner.must(200, "PATCH", "/accounts/api/me", map[string]any{"email": "owner@acme.example"})
	vis := ts.dialWS("/ws/chat/acme/v1", nil)
	last := vis.say("hello")
	waitFor(t, "the watermark", func() bool {
		var wm int64
		ts.DB.reader.QueryRow("SELECT value FROM server_state WHERE name = 'notify_watermark'").Scan(&wm)
		return wm == last.num("id")
	})
	// A backlog of several batches (messages of age) is gone through in
	// one scan, not one batch per scan.
	if _, err := ts.DB.writer.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4500)
		INSERT INTO messages (room_id, author, content, created) SELECT r.id, 'v1', 'm' || i, ? FROM n, rooms r WHERE r.consumer = 'v1'`,
		ts.DB.nowMillis()-time.Second.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	var top int64
	ts.DB.reader.QueryRow("SELECT max(id) FROM messages").Scan(&top)
	if err := ts.Server.notifyScan(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wm int64
	if ts.DB.reader.QueryRow("SELECT value FROM server_state WHERE name = 'notify_watermark'").Scan(&wm); wm != top {
		t.Errorf("after one scan the watermark is %d, want %d", wm, top)
	}
	ts.Close()
	st := startSMTP(t, false, "")
	ts2 := newTestServerAt(t, path, func(c *Config) {
		c.SMTP = st.URL(false)
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.NotifyAfter = testNotifyAfter
	})
	tuneOutbox(ts2.Server.outbox, st.Client)
	time.Sleep(4 * testNotifyAfter)
	if n := len(st.Received()); n != 0 {
		t.Errorf("%d emails about a message from before mail was on", n)
	}
}

// skipTo reads frames until one of command (the inbox gets room traffic
// in between) and returns it.
func skipTo(c *wsClient, command string) frame {
	c.t.Helper()
	for i := 0; i < 100; i++ {
		if f := c.next(); f.str("command") == command {
			return f
		}
	}
	c.t.Fatalf("%s: no %q frame", c.name, command)
	return nil
}

// waitPushes waits until the push service got n pushes and returns them.
func waitPushes(t *testing.T, ps *pushService, n int) []pushReceived {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := ps.Received()
		if len(got) >= n {
			if len(got) > n {
				t.Fatalf("%d pushes, want %d: %+v", len(got), n, got)
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes in 5s, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNotifyPush: a visitor message is pushed (and, unread, mailed within
// notify-after) to an agent with no inbox on screen; an inbox on screen
// gets no push; the inbox says when it is hidden with the visibility
// command; a room's first message is a new conversation.
func TestNotifyPush(t *testing.T) {
	st := startSMTP(t, false, "")
	ps := newPushService(t)
	ts, owner, uid := pushServer(t, ps, "", chatConfig, func(c *Config) {
		c.SMTP = st.URL(false)
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.PublicURL = "https://chat.acme.example"
		c.NotifyAfter = testNotifyAfter
	})
	tuneOutbox(ts.Server.outbox, st.Client)
	owner.must(200, "PATCH", "/accounts/api/me", map[string]any{"email": "owner@acme.example"})
	owner.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser("/push/phone").sub)
	owner.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser("/push/laptop").sub)

	// The inbox is open and on screen: no push.
	inbox := ts.dialWS("/ws/room/agent1", owner)
	inbox.probeRooms()
	vis := ts.dialWS("/ws/chat/agent1/v1", nil)
	vis.say("first")
	time.Sleep(300 * time.Millisecond)
	if got := ps.Received(); len(got) != 0 {
		t.Fatalf("pushed with the inbox on screen: %+v", got)
	}

	// Hidden: pushed to both browsers, the text cut to 100 characters.
	inbox.send(map[string]any{"command": "visibility", "visible": "no"})
	if f := skipTo(inbox, "error"); f.str("error") != codeBadField {
		t.Errorf("bad visible: %v", f)
	}
	inbox.send(map[string]any{"command": "visibility", "visible": false})
	inbox.send(map[string]any{"command": "fetch_rooms"})
	skipTo(inbox, "rooms") // the command was handled
	long := strings.Repeat("help ", 60)
	vis.say(long)
	got := waitPushes(t, ps, 2)
	var room int64
	ts.DB.reader.QueryRow("SELECT id FROM rooms WHERE consumer = 'v1'").Scan(&room)
	want := PushMessage{Title: "New message on agent1", Body: truncateRunes(strings.TrimSpace(long), 100), URL: "/messages#c=v1", Tag: "room-" + strconv.FormatInt(room, 10)}
	for _, p := range got {
		if p.Message != want {
			t.Errorf("%s: %+v, want %+v", p.Path, p.Message, want)
		}
	}
	if n := len([]rune(got[0].Message.Body)); n != 100 {
		t.Errorf("body of %d characters", n)
	}

	// A new visitor's first message: a new conversation.
	vis2 := ts.dialWS("/ws/chat/agent1/v2", nil)
	vis2.say("hi <there>")
	got = waitPushes(t, ps, 4)
	if m := got[3].Message; m.Title != "New conversation on agent1" || m.Body != "hi <there>" || m.URL != "/messages#c=v2" {
		t.Errorf("new conversation push: %+v", m)
	}

	// The unread messages are mailed within notify-after too.
	waitMails(t, st, "owner@acme.example", 2, 5*time.Second)

	// Visible again: no push; closed: pushed.
	inbox.send(map[string]any{"command": "visibility", "visible": true})
	inbox.send(map[string]any{"command": "fetch_rooms"})
	skipTo(inbox, "rooms")
	vis.say("anyone?")
	time.Sleep(300 * time.Millisecond)
	if n := len(ps.Received()); n != 4 {
		t.Fatalf("%d pushes with the inbox on screen again, want still 4", n)
	}
	inbox.conn.CloseNow()
	waitFor(t, "the inbox gone", func() bool { return !ts.Server.hub.AgentOnline(uid) })
	vis.say("hello??")
	waitPushes(t, ps, 6)

	// A visitor's room socket cannot claim visibility.
	anon := ts.dialWS("/ws/room/agent1", nil)
	anon.send(map[string]any{"command": "visibility", "visible": true})
	anon.expectError(codeForbidden)
}

// TestNotifySIGKILL: a server process killed with SIGKILL after its
// notifier queued an agent's email and while the SMTP server holds its
// DATA loses nothing and repeats nothing: the next start sends that email
// once, and its notifier does not queue it again.
func TestNotifySIGKILL(t *testing.T) {
	if os.Getenv("LIVECHAT_NOTIFY_CHILD") != "" {
		t.Skip("in the child")
	}
	st := startSMTP(t, false, "")
	path := killChildMidSend(t, st, "TestNotifyChildProcess", "LIVECHAT_NOTIFY_CHILD")
	ts := newTestServerAt(t, path, func(c *Config) {
		c.SMTP = st.URL(false)
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.PublicURL = "https://chat.acme.example"
		c.NotifyAfter = testNotifyAfter
	})
	tuneOutbox(ts.Server.outbox, st.Client)
	got := st.waitReceived(1, 10*time.Second, 5*testNotifyAfter)
	if len(got[0].To) != 1 || got[0].To[0] != "owner@acme.example" || !bytes.Contains(got[0].Data, []byte("killed mid-send")) {
		t.Errorf("the email after the restart:\n%s", got[0].Data)
	}
}

// TestNotifyChildProcess is TestNotifySIGKILL's server process: a visitor
// writes, the notifier queues the owner's email, and its sender hands it
// to the parent's SMTP server, which holds it until the parent kills this
// process.
func TestNotifyChildProcess(t *testing.T) {
	if os.Getenv("LIVECHAT_NOTIFY_CHILD") == "" {
		t.Skip("run by TestNotifySIGKILL")
	}
	pemData, err := os.ReadFile(os.Getenv("CHILD_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	ts := newTestServerAt(t, os.Getenv("CHILD_DB"), chatConfig, func(c *Config) {
		c.SMTP = os.Getenv("CHILD_SMTP")
		c.SMTPFrom = "Acme Support <support@acme.example>"
		c.PublicURL = "https://chat.acme.example"
		c.NotifyAfter = testNotifyAfter
	})
	tuneOutbox(ts.Server.outbox, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	owner := ts.client().signup("acme")
	owner.must(200, "PATCH", "/accounts/api/me", map[string]any{"email": "owner@acme.example"})
	ts.dialWS("/ws/chat/acme/v1", nil).say("killed mid-send")
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}

// TestNotifyPushAssignee: with rooms.assignee_id (the inbox's assignment;
// added here when the schema lacks it) a room assigned to one agent is
// pushed to that agent only; an unassigned room to every agent.
func TestNotifyPushAssignee(t *testing.T) {
	ps := newPushService(t)
	path := filepath.Join(t.TempDir(), "livechat.db")
	ts, owner, ownerID := pushServer(t, ps, path, chatConfig)
	agent, agentID := ts.join(owner, "sam", "Sam")
	owner.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser("/push/owner").sub)
	agent.must(201, "POST", "/accounts/api/push/subscriptions", ps.browser("/push/sam").sub)
	var n int
	ts.DB.reader.QueryRow("SELECT count(*) FROM pragma_table_info('rooms') WHERE name = 'assignee_id'").Scan(&n)
	if n == 0 {
		if _, err := ts.DB.writer.Exec("ALTER TABLE rooms ADD COLUMN assignee_id INTEGER REFERENCES users(id) ON DELETE SET NULL"); err != nil {
			t.Fatal(err)
		}
		ts.Close()
		ts.start()
		ts.Server.push.client = ps.srv.Client()
	}
	v1 := ts.dialWS("/ws/chat/agent1/v1", nil)
	v1.say("to everyone")
	got := waitPushes(t, ps, 2)
	if got[0].Path == got[1].Path {
		t.Fatalf("unassigned: %+v", got)
	}
	if _, err := ts.DB.writer.Exec("UPDATE rooms SET assignee_id = ? WHERE consumer = 'v1'", agentID); err != nil {
		t.Fatal(err)
	}
	v1.say("to sam")
	waitPushes(t, ps, 3)
	time.Sleep(200 * time.Millisecond)
	if got = ps.Received(); len(got) != 3 || got[2].Path != "/push/sam" || got[2].Message.Body != "to sam" {
		t.Fatalf("assigned to sam: %+v", got)
	}
	_ = ownerID
}
