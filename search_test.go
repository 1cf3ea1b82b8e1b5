package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// searchHits runs a search as c and returns the results' message contents
// (newest first) and consumers, and has_more.
func searchHits(t *testing.T, c *testClient, q string, extra string) (contents, consumers []string, more bool) {
	t.Helper()
	r := c.must(http.StatusOK, "GET", "/chatbot/api/search?q="+url.QueryEscape(q)+extra, nil)
	results, ok := r.JSON["results"].([]any)
	if !ok {
		t.Fatalf("search %q: no results array: %v", q, r.JSON)
	}
	for _, x := range results {
		res := x.(map[string]any)
		contents = append(contents, res["message"].(map[string]any)["content"].(string))
		consumers = append(consumers, res["consumer"].(string))
	}
	more, _ = r.JSON["has_more"].(bool)
	return contents, consumers, more
}

// TestSearchAccentedPrefixOldMessage: "gluten" (and "GLUT") finds
// "Glüten-free" said long before the room's last message, which the old
// filter (last message of loaded rooms) could not see.
func TestSearchAccentedPrefixOldMessage(t *testing.T) {
	ts := newTestServer(t, chatConfig, noMessageRate)
	admin := ts.client().signup("acme")
	v := ts.dialWS("/ws/chat/acme/v1", nil)
	v.say("Do you have Glüten-free bread?")
	for i := range 30 {
		v.say(fmt.Sprintf("later message %d", i))
	}
	w := ts.dialWS("/ws/chat/acme/v2", nil)
	w.say("nothing to see")

	for _, q := range []string{"gluten", "GLUT", "glüten", "bread gluten", "free"} {
		contents, consumers, more := searchHits(t, admin, q, "")
		if len(contents) != 1 || contents[0] != "Do you have Glüten-free bread?" || consumers[0] != "v1" || more {
			t.Errorf("search %q = %q %q more=%v", q, contents, consumers, more)
		}
	}
	// Words, not substrings: "luten" is inside "gluten", not a word prefix.
	if contents, _, _ := searchHits(t, admin, "luten", ""); len(contents) != 0 {
		t.Errorf("luten found %q", contents)
	}
	// A word with no match anywhere with another that matches: AND.
	if contents, _, _ := searchHits(t, admin, "gluten zebra", ""); len(contents) != 0 {
		t.Errorf("gluten zebra found %q", contents)
	}
	// The message carries its room and id, so the inbox can open it.
	r := admin.must(http.StatusOK, "GET", "/chatbot/api/search?q=gluten", nil)
	m := r.JSON["results"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if m["room"] != "acme v1" || m["id"].(float64) < 1 {
		t.Errorf("message = %v", m)
	}
}

// TestSearchSanitisesSyntax: FTS query syntax typed by a user is words,
// never an error or an operator.
func TestSearchSanitisesSyntax(t *testing.T) {
	ts := newTestServer(t, chatConfig, noMessageRate)
	admin := ts.client().signup("acme")
	v := ts.dialWS("/ws/chat/acme/v1", nil)
	v.say("apples OR pears")
	v.say("apples only")
	for _, q := range []string{`"`, `*`, `"apples`, `apples"*`, `(`, `NEAR/2`, `content:apples`, `-apples`, `apples OR`, `'`, `^`, `---`} {
		r := admin.do("GET", "/chatbot/api/search?q="+url.QueryEscape(q), nil)
		if r.Status != http.StatusOK {
			t.Errorf("q %q: status %d %v", q, r.Status, r.JSON)
		}
	}
	// "OR" is a word here: only the message containing it matches.
	if contents, _, _ := searchHits(t, admin, "apples OR", ""); len(contents) != 1 || contents[0] != "apples OR pears" {
		t.Errorf("apples OR = %q", contents)
	}
	if got := ftsQuery(`a"b* (c) x:y`); got != `"ab*" "(c)" "x:y*"` {
		t.Errorf("ftsQuery = %s", got)
	}
}

// TestSearchIsolationAndLimits: a business sees its own conversations
// only; q is 1–200 characters; limit and before page newest first.
func TestSearchIsolationAndLimits(t *testing.T) {
	ts := newTestServer(t, chatConfig, noMessageRate)
	acme := ts.client().signup("acme")
	other := ts.client().signup("other")
	ts.dialWS("/ws/chat/acme/v1", nil).say("secret recipe acme")
	ts.dialWS("/ws/chat/other/v1", nil).say("secret recipe other")

	if contents, _, _ := searchHits(t, acme, "secret", ""); len(contents) != 1 || contents[0] != "secret recipe acme" {
		t.Errorf("acme sees %q", contents)
	}
	if contents, _, _ := searchHits(t, other, "recipe", ""); len(contents) != 1 || contents[0] != "secret recipe other" {
		t.Errorf("other sees %q", contents)
	}
	// Not signed in: 401.
	if r := ts.client().do("GET", "/chatbot/api/search?q=secret", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous search: %d", r.Status)
	}
	for _, q := range []string{"", "   ", strings.Repeat("a", 201), strings.Repeat("é", 201)} {
		if r := acme.do("GET", "/chatbot/api/search?q="+url.QueryEscape(q), nil); r.Status != http.StatusBadRequest || r.FieldError("q") == "" {
			t.Errorf("q of %d chars: %d %v", len(q), r.Status, r.JSON)
		}
	}
	acme.must(http.StatusOK, "GET", "/chatbot/api/search?q="+strings.Repeat("é", 200), nil)
	for _, extra := range []string{"&limit=0", "&limit=x", "&before=0", "&before=x"} {
		if r := acme.do("GET", "/chatbot/api/search?q=secret"+extra, nil); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d", extra, r.Status)
		}
	}

	// Paging: five matches in two rooms, two at a time, newest first.
	v2 := ts.dialWS("/ws/chat/acme/v2", nil)
	v3 := ts.dialWS("/ws/chat/acme/v3", nil)
	var want []string
	for i := range 5 {
		c := fmt.Sprintf("pager number %d", i)
		if i%2 == 0 {
			v2.say(c)
		} else {
			v3.say(c)
		}
		want = append([]string{c}, want...)
	}
	var got []string
	before := ""
	for page := 0; ; page++ {
		r := acme.must(http.StatusOK, "GET", "/chatbot/api/search?q=pager&limit=2"+before, nil)
		results := r.JSON["results"].([]any)
		for _, x := range results {
			m := x.(map[string]any)["message"].(map[string]any)
			got = append(got, m["content"].(string))
			before = fmt.Sprintf("&before=%d", int64(m["id"].(float64)))
		}
		if more, _ := r.JSON["has_more"].(bool); !more {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("paged = %q, want %q", got, want)
	}
}

// TestSearchVisitorFields: a visitor's email and consumer id are found,
// with the room's last message.
func TestSearchVisitorFields(t *testing.T) {
	ts := newTestServer(t, chatConfig, noMessageRate)
	admin := ts.client().signup("acme")
	vis := ts.dialWS("/ws/room/acme", nil)
	vis.send(map[string]any{"command": "new_room", "consumer": "zed42", "email": "Zoë@example.com"})
	vis.expect("new_room")
	// A room without messages is not a result (there is no message to show).
	if contents, _, _ := searchHits(t, admin, "zoe", ""); len(contents) != 0 {
		t.Errorf("empty room found: %q", contents)
	}
	v := ts.dialWS("/ws/chat/acme/zed42", nil)
	v.say("first")
	v.say("hello there")
	for _, q := range []string{"zoe", "example.com", "zed4"} {
		contents, consumers, _ := searchHits(t, admin, q, "")
		if len(contents) != 1 || contents[0] != "hello there" || consumers[0] != "zed42" {
			t.Errorf("search %q = %q %q", q, contents, consumers)
		}
	}
	r := admin.must(http.StatusOK, "GET", "/chatbot/api/search?q=zoe", nil)
	if res := r.JSON["results"].([]any)[0].(map[string]any); res["consumer_email"] != "Zoë@example.com" {
		t.Errorf("result = %v", res)
	}
}

// TestSearchDeleteRoomErasesIndex: deleting a room removes it from the
// search, and its words from the index's shadow tables in the file (an
// FTS4 delete alone leaves them in the old segments).
func TestSearchDeleteRoomErasesIndex(t *testing.T) {
	ts := newTestServer(t, chatConfig, noMessageRate)
	admin := ts.client().signup("acme")
	word := "zq" + newFileToken() // one token, lowercase: as the index keeps it
	keep := "kq" + newFileToken()
	v := ts.dialWS("/ws/chat/acme/v1", nil)
	for i := range 10 {
		v.say(fmt.Sprintf("%s number %d", word, i))
	}
	ts.dialWS("/ws/chat/acme/v2", nil).say(keep)
	v.conn.CloseNow()
	if contents, _, _ := searchHits(t, admin, word, ""); len(contents) != 10 {
		t.Fatalf("before delete: %d hits", len(contents))
	}
	fileHas := func(s string) bool {
		var all []byte
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(ts.Path + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return bytes.Contains(all, []byte(s))
	}
	if !fileHas(word) {
		t.Fatal("the word is not in the files before the delete: the test proves nothing")
	}
	admin.must(http.StatusNoContent, "DELETE", "/chatbot/api/rooms/v1", nil)
	if contents, _, _ := searchHits(t, admin, word, ""); len(contents) != 0 {
		t.Errorf("after delete: %q", contents)
	}
	if fileHas(word) {
		t.Error("the deleted room's word is still in the database file or WAL (FTS shadow tables)")
	}
	if contents, _, _ := searchHits(t, admin, keep, ""); len(contents) != 1 {
		t.Errorf("the other room's message is no longer found: %q", contents)
	}
	if !fileHas(keep) {
		t.Error("the other room's word is gone from the files")
	}
}

// TestSearchEmptyRoomPurgeErasesIndex: the purge of rooms that never got
// a message takes their visitor rows out of rooms_fts, words and all.
func TestSearchEmptyRoomPurgeErasesIndex(t *testing.T) {
	ts := newTestServer(t, chatConfig, func(c *Config) { c.PurgeEmptyRooms = time.Hour })
	ts.client().signup("acme")
	// A room that stays: an FTS4 table that becomes empty drops all its
	// segments, which would make this test pass for the wrong reason.
	ts.dialWS("/ws/chat/acme/stays", nil).say("hello")
	consumer := "zq" + newFileToken()
	vis := ts.dialWS("/ws/room/acme", nil)
	vis.send(map[string]any{"command": "new_room", "consumer": consumer})
	vis.expect("new_room")
	vis.conn.CloseNow()
	count := func() (n int) {
		if err := ts.DB.reader.QueryRow(`SELECT count(*) FROM rooms_fts WHERE rooms_fts MATCH ?`, ftsQuery(consumer)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 1 {
		t.Fatal("the new room is not in rooms_fts")
	}
	ts.clock.Advance(2 * time.Hour)
	n, err := ts.Server.purgeEmptyRooms(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if count() != 0 {
		t.Error("the purged room is still in rooms_fts")
	}
	if err := ts.DB.truncateWAL(context.Background(), time.Second); err != nil {
		t.Log("truncate:", err)
	}
	b, _ := os.ReadFile(ts.Path)
	w, _ := os.ReadFile(ts.Path + "-wal")
	if bytes.Contains(append(b, w...), []byte(consumer)) {
		t.Error("the purged room's consumer id is still in the database file")
	}
}

// TestSearchIndexMark: storing a message writes nothing to the index
// (indexPending indexes the messages above fts_mark.mark later). A message
// not yet indexed that is deleted or edited never leaves words (or delete
// markers) in the index, an indexed one is unindexed and reindexed, a new
// message that reuses a deleted newest message's id is still indexed, and
// Search finds what was committed before it without waiting for indexLoop,
// across shards (FTS4 language ids), newest first and page by page.
func TestSearchIndexMark(t *testing.T) {
	db, u, rooms := benchDB(t, "NORMAL", 1)
	ctx := context.Background()
	insert := func(content string) int64 {
		t.Helper()
		res, err := db.writer.Exec("INSERT INTO messages (room_id, author, content, type, file, created) VALUES (?, 'v', ?, 'text', '', 1)", rooms[0], content)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		if _, err := db.writer.Exec("UPDATE rooms SET last_message_id = ? WHERE id = ?", id, rooms[0]); err != nil {
			t.Fatal(err)
		}
		return id
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.writer.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.reader.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	hits := func(q string) []string {
		t.Helper()
		res, _, err := db.Search(ctx, u.BusinessID, u.Username, q, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range res {
			out = append(out, r.Message.Content)
		}
		return out
	}
	check := func() {
		t.Helper()
		exec("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
	}
	behind := func() int {
		t.Helper()
		return count("SELECT count(*) FROM messages WHERE id > (SELECT mark FROM fts_mark)")
	}
	page := func(q string, before int64, limit int) ([]string, []int64, bool) {
		t.Helper()
		res, more, err := db.Search(ctx, u.BusinessID, u.Username, q, before, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		var ids []int64
		for _, r := range res {
			out = append(out, r.Message.Content)
			ids = append(ids, r.Message.ID)
		}
		return out, ids, more
	}
	m1 := insert("alpha bravo")
	m2 := insert("charlie delta")
	if n := behind(); n != 2 {
		t.Fatalf("not indexed yet: %d, want 2", n)
	}
	if n := count("SELECT count(*) FROM messages_fts_segdir"); n != 0 {
		t.Fatalf("the commit wrote %d index segments, want none", n)
	}
	// Messages not yet indexed are not a malformed index (backups run this).
	var ok string
	if err := db.reader.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check with messages not yet indexed: %q, %v", ok, err)
	}
	exec("DELETE FROM messages WHERE id = ?", m1)
	exec("UPDATE messages SET content = 'echo foxtrot' WHERE id = ?", m2)
	if n := behind(); n != 1 {
		t.Fatalf("not indexed after the delete: %d, want 1", n)
	}
	if n := count("SELECT count(*) FROM messages_fts_segdir"); n != 0 {
		t.Fatalf("deleting or editing a message not yet indexed wrote %d index segments", n)
	}
	// Search indexes the rest first.
	if got := hits("echo"); !slices.Equal(got, []string{"echo foxtrot"}) {
		t.Fatalf("echo: %q", got)
	}
	for _, q := range []string{"alpha", "charlie"} {
		if got := hits(q); len(got) != 0 {
			t.Errorf("%s: %q", q, got)
		}
	}
	if n := behind(); n != 0 {
		t.Fatalf("not indexed after a search: %d", n)
	}
	check()
	// Indexed now: an edit unindexes and reindexes, a delete unindexes.
	exec("UPDATE messages SET content = 'golf hotel' WHERE id = ?", m2)
	if got := hits("golf"); len(got) != 1 {
		t.Errorf("golf after the edit: %q", got)
	}
	if got := hits("echo"); len(got) != 0 {
		t.Errorf("echo after the edit: %q", got)
	}
	check()
	exec("DELETE FROM messages WHERE id = ?", m2)
	if got := hits("golf"); len(got) != 0 {
		t.Errorf("golf after the delete: %q", got)
	}
	check()
	// The newest message is gone, so SQLite hands its id out again: the
	// mark came down with it, and the new message is indexed.
	if m3 := insert("kilo lima"); m3 > m2 {
		t.Fatalf("id %d not reused (after %d): the test proves nothing", m3, m2)
	}
	if got := hits("kilo"); !slices.Equal(got, []string{"kilo lima"}) {
		t.Errorf("kilo in a reused id: %q", got)
	}
	check()
	// Shards: ids 65,536 apart are in different language ids; a search
	// goes from the newest shard back, pages with before, and reaches
	// shard 0.
	for i, id := range []int64{1<<ftsShardBits + 1, 2<<ftsShardBits + 1, 3 << ftsShardBits} {
		exec("INSERT INTO messages (id, room_id, author, content, type, file, created) VALUES (?, ?, 'v', ?, 'text', '', 1)",
			id, rooms[0], fmt.Sprintf("juliet kilo %d", i+1))
	}
	got, ids, more := page("juliet", 0, 2)
	if !slices.Equal(got, []string{"juliet kilo 3", "juliet kilo 2"}) || !more {
		t.Fatalf("juliet, first page: %q more=%v", got, more)
	}
	if got, _, more := page("juliet", ids[1], 2); !slices.Equal(got, []string{"juliet kilo 1"}) || more {
		t.Fatalf("juliet, second page: %q more=%v", got, more)
	}
	if got, _, _ := page("kilo", 0, 10); !slices.Equal(got, []string{"juliet kilo 3", "juliet kilo 2", "juliet kilo 1", "kilo lima"}) {
		t.Fatalf("kilo over four shards: %q", got)
	}
	if n := count("SELECT count(DISTINCT level / 1024) FROM messages_fts_segdir"); n != 4 {
		t.Errorf("segments in %d language ids, want 4", n)
	}
	check()
	// More than a batch: indexPending goes on until nothing is left.
	exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO messages (room_id, author, content, type, file, created) SELECT ?, 'v', 'india ' || i, 'text', '', 1 FROM n`, indexBatch+5, rooms[0])
	if err := db.indexPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n := behind(); n != 0 {
		t.Fatalf("not indexed after indexPending: %d", n)
	}
	if n := count("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'india' AND lid = 3"); n != indexBatch+5 {
		t.Fatalf("indexed: %d, want %d", n, indexBatch+5)
	}
	check()
}

// TestSearchUpgradeToShards: a database of migration 11 (words indexed by a
// queue) opens as migration 12 with nothing lost: the indexed message and
// the one still queued are both found, the queue is gone, and the file
// passes PRAGMA integrity_check.
func TestSearchUpgradeToShards(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v11.db")
	orig := migrations
	t.Cleanup(func() { migrations = orig })
	migrations = orig[:11]
	old, err := OpenDB(ctx, path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	u, err := old.CreateUser(ctx, "acme", "x", "", "")
	if err != nil {
		t.Fatal(err)
	}
	err = old.inTx(ctx, func(tx *sql.Tx) error {
		r, _, err := ensureRoomTx(ctx, tx, u.ID, "vera", "", old.nowMillis())
		if err != nil {
			return err
		}
		for _, content := range []string{"indexed crème", "queued brûlée"} {
			if _, err := tx.ExecContext(ctx, "INSERT INTO messages (room_id, author, content, type, file, created) VALUES (?, 'v', ?, 'text', '', 1)", r.ID, content); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE rooms SET last_message_id = (SELECT max(id) FROM messages)"); err != nil {
			return err
		}
		// What migration 11's indexPending did, for the first message only.
		if _, err := tx.ExecContext(ctx, "INSERT INTO messages_fts (docid, content) SELECT id, content FROM messages ORDER BY id LIMIT 1"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM fts_pending WHERE id = (SELECT min(id) FROM fts_pending)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	migrations = orig
	db, err := OpenDB(ctx, path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if up := db.Upgraded; up == nil || up.From != 11 || up.To != len(orig) {
		t.Fatalf("Upgraded = %+v", up)
	}
	for q, want := range map[string]string{"creme": "indexed crème", "brulee": "queued brûlée"} {
		res, _, err := db.Search(ctx, u.BusinessID, u.Username, q, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || res[0].Message.Content != want {
			t.Errorf("%s after the upgrade: %+v", q, res)
		}
	}
	var n int
	if err := db.reader.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'fts_pending'").Scan(&n); err != nil || n != 0 {
		t.Errorf("fts_pending still there (%d, %v)", n, err)
	}
	var ok string
	if err := db.reader.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check after the upgrade: %q, %v", ok, err)
	}
}

// TestSearchIndexLoop: the server indexes what visitors say in the
// background, with no search to trigger it (Search indexes the rest
// itself, so the search tests never notice a stopped indexLoop).
func TestSearchIndexLoop(t *testing.T) {
	ts := newTestServer(t, chatConfig)
	ts.client().signup("acme")
	visitor := ts.dialWS("/ws/chat/acme/v1", nil)
	id := visitor.say("gluten-free bread").num("id")
	if id == 0 {
		t.Fatal("the echo carries no message id")
	}
	indexed := func() bool {
		var n int
		if err := ts.DB.reader.QueryRow("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'gluten' AND lid = 0").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	deadline := time.Now().Add(10 * indexEvery)
	for !indexed() {
		if time.Now().After(deadline) {
			var mark int64
			ts.DB.reader.QueryRow("SELECT mark FROM fts_mark").Scan(&mark)
			t.Fatalf("message %d not indexed after %v (mark %d)", id, 10*indexEvery, mark)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
