package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// searchVocabulary is the benchmark's words: a few hundred stems, some
// accented, combined into a Zipf-distributed vocabulary of ~20,000 words.
func searchVocabulary() []string {
	stems := strings.Fields(`order bread gluten glüten delivery refund ship shipping parcel invoice price cost size colour
	color bike trail repair test ride saturday monday booking book table reserve café crème brûlée naïve façade
	jalapeño piñata ångström über straße smörgåsbord account login password email address street city postcode
	payment card paypal voucher discount coupon return exchange broken damaged missing late early tomorrow today
	hello thanks please help question answer problem issue support manager human agent chat window website page`)
	suffixes := []string{"", "s", "ed", "ing", "er", "ly", "ness", "ment", "able", "ful"}
	var words []string
	for i := 0; len(words) < 20000; i++ {
		s := stems[i%len(stems)]
		words = append(words, s+suffixes[(i/len(stems))%len(suffixes)]+strconv.Itoa(i/(len(stems)*len(suffixes))))
	}
	// The bare stems are the common words.
	return append(stems, words...)
}

// seedSearchDB fills a database with n messages over businesses × rooms,
// in one transaction (indexPending indexes them afterwards), and returns
// the business ids.
func seedSearchDB(b *testing.B, db *DB, n, businesses, roomsPer int) []int64 {
	ctx := context.Background()
	vocab := searchVocabulary()
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 2, uint64(len(vocab)-1))
	var ids []int64
	var rooms []int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for bi := range businesses {
			res, err := tx.ExecContext(ctx, "INSERT INTO users (username, password_hash, created) VALUES (?, 'x', 0)", fmt.Sprintf("biz%d", bi))
			if err != nil {
				return err
			}
			uid, _ := res.LastInsertId()
			if _, err := tx.ExecContext(ctx, "UPDATE users SET business_id = id WHERE id = ?", uid); err != nil {
				return err
			}
			ids = append(ids, uid)
			for ri := range roomsPer {
				r, _, err := ensureRoomTx(ctx, tx, uid, fmt.Sprintf("visitor-%d-%d", bi, ri), "", db.nowMillis())
				if err != nil {
					return err
				}
				rooms = append(rooms, r.ID)
			}
		}
		ins, err := tx.PrepareContext(ctx, "INSERT INTO messages (room_id, author, content, type, file, created) VALUES (?, 'v', ?, 'text', '', ?)")
		if err != nil {
			return err
		}
		defer ins.Close()
		var sb strings.Builder
		for i := range n {
			sb.Reset()
			for w := range 6 + i%10 {
				if w > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(vocab[zipf.Uint64()])
			}
			if _, err := ins.ExecContext(ctx, rooms[i%len(rooms)], sb.String(), int64(i)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "UPDATE rooms SET last_message_id = (SELECT max(id) FROM messages WHERE room_id = rooms.id)")
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

// BenchmarkSearch: search latency on a big database (P4's 1,000,000
// messages; LIVECHAT_SEARCH_MESSAGES sets another count) over 10
// businesses of 1,000 rooms: common words, rare words, prefixes, accented
// and two-word queries, one business's view, first page of 20. Reports
// p50/p99 per query; the seeding time and rate are logged.
func BenchmarkSearch(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("LIVECHAT_SEARCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	db, err := OpenDB(context.Background(), b.TempDir()+"/search.db", "NORMAL")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	businesses := seedSearchDB(b, db, n, 10, 1000)
	// Storing wrote nothing to the index; index the messages (what
	// indexLoop does a second at a time) as part of the seeding.
	if err := db.indexPending(context.Background()); err != nil {
		b.Fatal(err)
	}
	seed := time.Since(start)
	var segs, size int64
	db.reader.QueryRow("SELECT count(*) FROM messages_fts_segdir").Scan(&segs)
	db.reader.QueryRow("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size").Scan(&size)
	b.Logf("database %d MB, %d index segments", size>>20, segs)
	b.Logf("seeded %d messages in %v (%.0f msgs/s, indexing included)", n, seed.Round(time.Millisecond), float64(n)/seed.Seconds())
	queries := []string{"gluten", "GLUT", "brûlée", "creme brulee", "bread delivery", "refund", "ship", "s", "pa",
		"order0", "colour12", "jalapeno", "strasse", "straße", "help please", "zzzz", "invoiceable3", "bike trail repair"}
	ctx := context.Background()
	measure := func(label string, rounds int) {
		var lat []time.Duration
		for i := range rounds {
			q := queries[i%len(queries)]
			t0 := time.Now()
			if _, _, err := db.Search(ctx, businesses[i%len(businesses)], "biz", q, 0, 20); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms"+label)
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms"+label)
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms"+label)
		// Per query, once each, so the slow ones are named.
		for _, q := range queries {
			t0 := time.Now()
			res, more, _ := db.Search(ctx, businesses[0], "biz", q, 0, 20)
			b.Logf("%s %-20q %3d hits more=%-5v %v", label, q, len(res), more, time.Since(t0).Round(10*time.Microsecond))
		}
	}
	b.ResetTimer()
	measure("", max(b.N, 20))
	// The index as the seeding left it has many segments; optimize merges
	// them into one (what FTS4's automerge would tend to).
	t0 := time.Now()
	if _, err := db.writer.Exec("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')"); err != nil {
		b.Fatal(err)
	}
	db.reader.QueryRow("SELECT count(*) FROM messages_fts_segdir").Scan(&segs)
	b.Logf("optimize: %v (segments now %d)", time.Since(t0).Round(time.Millisecond), segs)
	measure("-opt", max(b.N, 20))
	b.StopTimer()
	// The worst case: a business that has none of the hits, on a server
	// whose other businesses have many, reads every shard and looks up
	// every hit's room.
	res, err := db.writer.Exec("INSERT INTO users (username, password_hash, created) VALUES ('empty', 'x', 0)")
	if err != nil {
		b.Fatal(err)
	}
	empty, _ := res.LastInsertId()
	if _, err := db.writer.Exec("UPDATE users SET business_id = id WHERE id = ?", empty); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"gluten", "pa", "zzzz"} {
		t0 := time.Now()
		hits, _, err := db.Search(ctx, empty, "empty", q, 0, 20)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("a business with no messages: %-8q %d hits %v", q, len(hits), time.Since(t0).Round(10*time.Microsecond))
	}
	// What erasing costs on this index: DeleteRoom rewrites it (optimize).
	var roomID int64
	if err := db.reader.QueryRow("SELECT id FROM rooms WHERE user_id = ? ORDER BY id LIMIT 1", businesses[0]).Scan(&roomID); err != nil {
		b.Fatal(err)
	}
	for i := range 2 {
		t0 := time.Now()
		if err := db.DeleteRoom(ctx, roomID+int64(i)); err != nil {
			b.Logf("DeleteRoom: %v", err)
		}
		b.Logf("DeleteRoom %d (about %d messages in every shard, then optimize): %v", i+1, n/10000, time.Since(t0).Round(time.Millisecond))
	}
	// A real conversation's messages are close in time, so in one or two
	// shards, and optimize skips a shard that is one segment already: a
	// conversation of 100 messages in the newest shard, on an index
	// optimized just before.
	var last int64
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		r, _, err := ensureRoomTx(ctx, tx, businesses[1], "one-shard", "", db.nowMillis())
		if err != nil {
			return err
		}
		last = r.ID
		for i := range 100 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO messages (room_id, author, content, type, file, created) VALUES (?, 'v', ?, 'text', '', 0)", r.ID, fmt.Sprintf("a recent conversation, message %d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.indexPending(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := db.writer.Exec("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')"); err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	if err := db.DeleteRoom(ctx, last); err != nil {
		b.Logf("DeleteRoom: %v", err)
	}
	b.Logf("DeleteRoom of 100 messages in one shard, then optimize: %v", time.Since(t0).Round(time.Millisecond))
}

// BenchmarkMessageWriterFTS is BenchmarkMessageWriter's NORMAL/group case
// with and without the full-text index: "with" also indexes what was
// committed (indexPending, what indexLoop does a second at a time) and
// counts that time in; storing a message runs no FTS trigger at all.
// LIVECHAT_FTS_UNIQUE=1 gives every message a word of its own (a number:
// the index grows by one term a message), the worst case.
func BenchmarkMessageWriterFTS(b *testing.B) {
	unique := int64(1) // i%1 == 0: "%.0d" prints nothing
	if os.Getenv("LIVECHAT_FTS_UNIQUE") == "1" {
		unique = math.MaxInt64
	}
	for _, fts := range []bool{false, true} {
		b.Run(map[bool]string{false: "without-fts", true: "with-fts"}[fts], func(b *testing.B) {
			db, u, rooms := benchDB(b, "NORMAL", 64)
			w := newGroupCommitter(db, slog.New(slog.NewTextHandler(io.Discard, nil)), defaultMaxBatch, nil)
			defer w.Close()
			start := benchSubmit(b, w, u, rooms, func(i int64) string {
				return fmt.Sprintf("a message of ordinary length, say forty-odd characters%.0d", i%unique)
			})
			if fts {
				if err := db.indexPending(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
