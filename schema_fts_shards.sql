-- Migration 12: the full-text index in shards of 65,536 messages, filled
-- after the commit from a high-water mark (issue 9's search p99 and P2
-- budgets).
--
-- Shards. Every query word is a prefix ("glut*"), and FTS4 reads the
-- whole doclist of every word a prefix matches before it can return a
-- single row: on 1,000,000 messages a common prefix costs hundreds of
-- milliseconds whatever the LIMIT. FTS4's languageid keeps a separate
-- index per language id inside the one table, and a query reads only the
-- language id it names. So lid = id >> 16 cuts the index into shards of
-- 65,536 consecutive message ids; Search asks the newest shard first and
-- goes back only while it has fewer hits than it needs, so a common word
-- reads 65,536 messages' worth of doclists, not the whole history.
--
-- The mark. Migration 11 queued every message id in fts_pending from an
-- insert trigger, inside the group commit. Message ids only grow (one
-- writer: a later commit gets higher ids), so the queue is simply "every
-- message above fts_mark.mark": no trigger runs on insert at all, and
-- indexPending indexes messages above the mark and moves it. SQLite hands
-- out max(id)+1 (no AUTOINCREMENT), so a deleted newest message could give
-- its id to a new one below the mark: messages_fts_mark keeps the mark at
-- or under the newest message.
--
-- matchinfo=fts3: no %_docsize row a message (ranking is never used; hits
-- come newest first), a write less per indexed message.
--
-- The content table is messages_indexed, the messages at or under the
-- mark, with their shard: deletes read the old words and shard from it,
-- and FTS4's integrity check (run by PRAGMA integrity_check, which backups
-- run) compares the index with exactly the indexed messages.
--
-- The index starts empty with the mark at 0: the server fills it in the
-- background (indexLoop, 10,000 messages a transaction), and the first
-- search indexes whatever is left, so the upgrade itself is instant.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_dequeue;
DROP TRIGGER messages_fts_unindex;
DROP TRIGGER messages_fts_reindex;
DROP TABLE messages_fts;
DROP VIEW messages_indexed;
DROP TABLE fts_pending;

CREATE TABLE fts_mark (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    mark INTEGER NOT NULL
);
INSERT INTO fts_mark (one, mark) VALUES (1, 0);

CREATE VIEW messages_indexed AS
    SELECT id AS rowid, content, id >> 16 AS lid FROM messages
    WHERE id <= (SELECT mark FROM fts_mark);

CREATE VIRTUAL TABLE messages_fts USING fts4(content="messages_indexed", content,
    languageid="lid", matchinfo=fts3, tokenize=unicode61 "remove_diacritics=1");

CREATE TRIGGER messages_fts_delete BEFORE DELETE ON messages
    WHEN old.id <= (SELECT mark FROM fts_mark) BEGIN
    DELETE FROM messages_fts WHERE docid = old.id;
END;
CREATE TRIGGER messages_fts_mark AFTER DELETE ON messages
    WHEN (SELECT mark FROM fts_mark) > coalesce((SELECT max(id) FROM messages), 0) BEGIN
    UPDATE fts_mark SET mark = coalesce((SELECT max(id) FROM messages), 0);
END;
CREATE TRIGGER messages_fts_unindex BEFORE UPDATE OF content ON messages
    WHEN old.id <= (SELECT mark FROM fts_mark) BEGIN
    DELETE FROM messages_fts WHERE docid = old.id;
END;
CREATE TRIGGER messages_fts_reindex AFTER UPDATE OF content ON messages
    WHEN new.id <= (SELECT mark FROM fts_mark) BEGIN
    INSERT INTO messages_fts (docid, content, lid) VALUES (new.id, new.content, new.id >> 16);
END;
