package main

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Full-text search over a business's conversations (issue 9): message
// content (messages_fts) and who the visitors are (rooms_fts: consumer id,
// email, name). Both are FTS4 tables with the unicode61 tokenizer and
// remove_diacritics=1 (schema_search.sql), so matching ignores case and
// accents; every word of the query matches whole words and word prefixes.

// maxSearchQuery is the longest q, in characters.
const maxSearchQuery = 200

// SearchResult is one hit: the message and the conversation it is in.
// A hit on a visitor's name, email or id carries the room's last message.
type SearchResult struct {
	Consumer      string  `json:"consumer"`
	ConsumerEmail string  `json:"consumer_email"`
	Name          string  `json:"name"`
	Message       Message `json:"message"`
}

// ftsQuery turns what a user typed into an FTS4 query that cannot be
// anything but words: each whitespace-separated token, stripped of double
// quotes and asterisks, becomes a quoted prefix phrase ("tok*"; a
// one-letter token a whole word, "a"), and the phrases are ANDed. Operators (OR, NOT, NEAR, -, parentheses, column:)
// are inside quotes and so are plain words. "" when nothing searchable
// is left.
func ftsQuery(q string) string {
	var b strings.Builder
	for _, tok := range strings.Fields(q) {
		tok = strings.Map(func(r rune) rune {
			if r == '"' || r == '*' {
				return -1
			}
			return r
		}, tok)
		alnum := 0
		for _, r := range tok {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				alnum++
			}
		}
		if alnum == 0 {
			continue // nothing the tokenizer would keep
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(tok)
		if alnum > 1 {
			// A one-letter prefix would merge the doclists of a good part
			// of the vocabulary for nothing: one letter is a whole word.
			b.WriteByte('*')
		}
		b.WriteByte('"')
	}
	return b.String()
}

// ftsShardBits: the full-text index is cut into shards of 1<<ftsShardBits
// consecutive message ids, FTS4 language ids: the lid column of the view
// messages_indexed, id >> 16 (schema_fts_shards.sql), which indexing reads.
// Search reads the newest shard first; TestSearchIndexMark fails if the
// two disagree.
const ftsShardBits = 16

// searchMessagesSQL: the business's messages in one shard whose content
// matches, newest first. The FTS4 table hands out docids in descending
// order (ORDER BY docid DESC is consumed by the virtual table), so LIMIT
// stops the scan early when the business has enough hits; CROSS JOIN pins
// that order.
const searchMessagesSQL = `SELECT messages_fts.docid FROM messages_fts
	CROSS JOIN messages m ON m.id = messages_fts.docid
	CROSS JOIN rooms r ON r.id = m.room_id
	WHERE messages_fts MATCH ? AND messages_fts.lid = ? AND messages_fts.docid < ? AND r.user_id = ?
	ORDER BY messages_fts.docid DESC LIMIT ?`

// searchRoomsSQL: the business's rooms whose visitor matches, as their
// last message ids, newest first. CROSS JOIN keeps the full-text query
// first and run once: the planner would otherwise walk the business's
// rooms and run it once per room.
const searchRoomsSQL = `SELECT r.last_message_id FROM rooms_fts
	CROSS JOIN rooms r ON r.id = rooms_fts.docid
	WHERE rooms_fts MATCH ? AND r.user_id = ? AND r.last_message_id < ?
	ORDER BY r.last_message_id DESC LIMIT ?`

const searchHitSQL = `SELECT ` + messageColumns + `, room_id FROM messages WHERE id = ?`

const searchRoomSQL = `SELECT r.consumer, r.consumer_email, coalesce(v.name, '')
	FROM rooms r LEFT JOIN visitors v ON v.room_id = r.id WHERE r.id = ?`

// indexBatch is how many queued messages one indexPending transaction
// indexes: big enough that FTS4 writes one segment for thousands of
// messages, small enough that the writer is not held for long (~10,000
// messages take tens of milliseconds).
const indexBatch = 10000

// indexEvery is how often the server indexes what was committed since
// (indexLoop). Search does not wait for it: it indexes the rest first.
const indexEvery = time.Second

// indexPending indexes the messages above fts_mark.mark (every message
// committed since the last call: ids only grow) into messages_fts, a batch
// a transaction, and moves the mark, until none are left. Indexing after
// the commit rather than in it keeps the words off the group commit's
// path: no trigger runs when a message is stored, and FTS4 writes one
// segment a transaction, so a batch of 10,000 costs a fraction of what
// 10,000 messages cost one commit at a time.
func (db *DB) indexPending(ctx context.Context) error {
	var behind bool
	if err := db.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE id > (SELECT mark FROM fts_mark))").Scan(&behind); err != nil || !behind {
		return err
	}
	for {
		var n int
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			var mark int64
			var hi sql.NullInt64
			if err := tx.QueryRowContext(ctx, "SELECT mark FROM fts_mark").Scan(&mark); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, "SELECT count(*), max(id) FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)", mark, indexBatch).Scan(&n, &hi); err != nil || n == 0 {
				return err
			}
			// Mark first: the batch is then in messages_indexed, whose lid
			// column is the one definition of a message's shard.
			if _, err := tx.ExecContext(ctx, "UPDATE fts_mark SET mark = ?", hi.Int64); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO messages_fts (docid, content, lid)
				SELECT rowid, content, lid FROM messages_indexed WHERE rowid > ? ORDER BY rowid`, mark)
			return err
		})
		if err != nil || n < indexBatch {
			return err
		}
	}
}

// indexLoop indexes the queued messages every indexEvery until stopPurge
// closes, so that a search rarely has much to index first.
func (s *Server) indexLoop() {
	defer close(s.indexDone)
	t := time.NewTicker(indexEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopPurge:
			return
		case <-t.C:
			if err := s.db.indexPending(context.Background()); err != nil {
				s.log.Warn("full-text index", "err", err)
			}
		}
	}
}

// Search returns up to limit hits of business's conversations for the
// user's query q, newest message first, with message ids below before (0:
// from the newest), and whether more remain.
func (db *DB) Search(ctx context.Context, business int64, handle, q string, before int64, limit int) ([]SearchResult, bool, error) {
	match := ftsQuery(q)
	if match == "" {
		return []SearchResult{}, false, nil
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	// Everything committed before the search is found: index the queue.
	if err := db.indexPending(ctx); err != nil {
		return nil, false, err
	}
	ids := map[int64]bool{}
	var order []int64
	collect := func(query string, args ...any) error {
		rows, err := db.reader.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			if !ids[id] {
				ids[id] = true
				order = append(order, id)
			}
		}
		return rows.Err()
	}
	// Shard by shard, newest first, until limit+1 hits: a common word is
	// found in the newest shard and the older ones are never read.
	var top int64
	if err := db.reader.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM messages WHERE id < ?", before).Scan(&top); err != nil {
		return nil, false, err
	}
	for shard := top >> ftsShardBits; shard >= 0 && len(order) <= limit; shard-- {
		if err := collect(searchMessagesSQL, match, shard, before, business, limit+1-len(order)); err != nil {
			return nil, false, err
		}
	}
	if err := collect(searchRoomsSQL, match, business, before, limit+1); err != nil {
		return nil, false, err
	}
	// Newest first across both sources; one more than limit says has_more.
	slices.Sort(order)
	slices.Reverse(order)
	more := len(order) > limit
	if more {
		order = order[:limit]
	}
	out := make([]SearchResult, 0, len(order))
	for _, id := range order {
		var res SearchResult
		var roomID int64
		row := db.reader.QueryRowContext(ctx, searchHitSQL, id)
		if err := scanMessageAnd(row, &res.Message, &roomID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				continue // deleted between the two reads
			}
			return nil, false, err
		}
		err := db.reader.QueryRowContext(ctx, searchRoomSQL, roomID).Scan(&res.Consumer, &res.ConsumerEmail, &res.Name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		res.Message.Room = roomName(handle, res.Consumer)
		out = append(out, res)
	}
	return out, more, nil
}

// scanMessageAnd scans messageColumns into m and then one more column.
func scanMessageAnd(row *sql.Row, m *Message, extra *int64) error {
	var ex extraScanner
	ex.row, ex.extra = row, extra
	return scanMessage(&ex, m, "")
}

// extraScanner appends one destination to a scanMessage Scan.
type extraScanner struct {
	row   *sql.Row
	extra *int64
}

func (e *extraScanner) Scan(dest ...any) error {
	return e.row.Scan(append(dest, e.extra)...)
}

// handleSearch handles "GET /chatbot/api/search?q=&limit=&before=": any
// agent of the business, over the business's conversations only.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, u *User) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if n := utf8.RuneCountInString(q); n < 1 || n > maxSearchQuery {
		s.writeError(w, r, fieldErrors(map[string]string{"q": "Must be 1 to 200 characters."}))
		return
	}
	if !utf8.ValidString(q) {
		s.writeError(w, r, fieldErrors(map[string]string{"q": "Must be text."}))
		return
	}
	limit, before, err := pageByMessageID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	results, more, err := s.db.Search(r.Context(), u.BusinessID, u.Business, q, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results, "has_more": more})
}
