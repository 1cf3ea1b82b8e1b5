-- Migration 11: index message words after the commit, not in it (issue 9's
-- P2 budget). Migration 10's trigger wrote each message's words into
-- messages_fts inside the group-commit transaction: FTS4 then flushes a
-- small segment per commit and merges them every 16, ~16-40 µs of writer
-- time per message. Now the insert trigger only queues the id in
-- fts_pending (one appended row), and indexPending (search.go) moves the
-- queue into messages_fts in big batches: every second in the background,
-- and before every search, so a search still finds every committed
-- message.
--
-- A queued message is not in messages_fts yet, so deleting or editing it
-- must not touch the index (an FTS4 delete of a docid it never indexed
-- would plant delete markers for words it does not hold): the delete and
-- edit triggers run only for messages that are not queued, and a deleted
-- message leaves the queue.
--
-- The index's external content is therefore messages_indexed, the
-- messages that are not queued, not messages itself: FTS4's integrity
-- check (and so PRAGMA integrity_check, which backups run) compares the
-- index with its content table and would call every queued message a
-- malformed index. The table is rebuilt once, here.
CREATE TABLE fts_pending (
    id INTEGER PRIMARY KEY
);
CREATE VIEW messages_indexed AS
    SELECT id AS rowid, content FROM messages WHERE id NOT IN (SELECT id FROM fts_pending);

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_unindex;
DROP TRIGGER messages_fts_reindex;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts4(content="messages_indexed", content, tokenize=unicode61 "remove_diacritics=1");
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO fts_pending (id) VALUES (new.id);
END;
CREATE TRIGGER messages_fts_delete BEFORE DELETE ON messages
    WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id) BEGIN
    DELETE FROM messages_fts WHERE docid = old.id;
END;
CREATE TRIGGER messages_fts_dequeue AFTER DELETE ON messages BEGIN
    DELETE FROM fts_pending WHERE id = old.id;
END;
CREATE TRIGGER messages_fts_unindex BEFORE UPDATE OF content ON messages
    WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = old.id) BEGIN
    DELETE FROM messages_fts WHERE docid = old.id;
END;
CREATE TRIGGER messages_fts_reindex AFTER UPDATE OF content ON messages
    WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE id = new.id) BEGIN
    INSERT INTO messages_fts(docid, content) VALUES (new.id, new.content);
END;
