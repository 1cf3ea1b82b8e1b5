-- Migration 7: full-text search and who the visitor is (issue 9).
--
-- messages_fts indexes message content. It is an FTS4 table with external
-- content (content="messages"): the text is stored once, in messages, and
-- the index's docid is messages.id. FTS4 (not FTS5) because it is compiled
-- into the default go-sqlite3 build; unicode61 with remove_diacritics=1
-- folds case and accents ("gluten" finds "Glüten-free"). Triggers keep it
-- in step with messages: one indexed insert per message. An FTS4 delete
-- reads the old text from messages to find the words to drop, so it must
-- run BEFORE the row goes (BEFORE DELETE, BEFORE UPDATE).
CREATE VIRTUAL TABLE messages_fts USING fts4(content="messages", content, tokenize=unicode61 "remove_diacritics=1");
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(docid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete BEFORE DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE docid = old.id;
END;
CREATE TRIGGER messages_fts_unindex BEFORE UPDATE OF content ON messages BEGIN
    DELETE FROM messages_fts WHERE docid = old.id;
END;
CREATE TRIGGER messages_fts_reindex AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(docid, content) VALUES (new.id, new.content);
END;

-- What the server knows about a room's visitor: what the visitor window
-- reported (page, title, referrer, language, timezone, name), what the
-- upgrade's User-Agent says (browser, os), and the country when the
-- operator gave a GeoIP database. The email stays rooms.consumer_email.
-- No IP address is stored. pages: JSON, the last 20 {url,title,at}.
CREATE TABLE visitors (
    room_id    INTEGER PRIMARY KEY REFERENCES rooms(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL DEFAULT '',
    page_url   TEXT    NOT NULL DEFAULT '',
    page_title TEXT    NOT NULL DEFAULT '',
    referrer   TEXT    NOT NULL DEFAULT '',
    language   TEXT    NOT NULL DEFAULT '',
    timezone   TEXT    NOT NULL DEFAULT '',
    browser    TEXT    NOT NULL DEFAULT '',
    os         TEXT    NOT NULL DEFAULT '',
    country    TEXT    NOT NULL DEFAULT '',
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    pages      TEXT    NOT NULL DEFAULT '[]'
);

-- rooms_fts indexes who a room's visitor is: consumer id, email, name
-- (docid = rooms.id). Small (one row a room), so it keeps its own copy.
CREATE VIRTUAL TABLE rooms_fts USING fts4(consumer, email, name, tokenize=unicode61 "remove_diacritics=1");
INSERT INTO rooms_fts(docid, consumer, email, name) SELECT id, consumer, consumer_email, '' FROM rooms;

CREATE TRIGGER rooms_fts_insert AFTER INSERT ON rooms BEGIN
    INSERT INTO rooms_fts(docid, consumer, email, name) VALUES (new.id, new.consumer, new.consumer_email, '');
END;
CREATE TRIGGER rooms_fts_email AFTER UPDATE OF consumer_email ON rooms BEGIN
    UPDATE rooms_fts SET email = new.consumer_email WHERE docid = new.id;
END;
CREATE TRIGGER rooms_fts_delete AFTER DELETE ON rooms BEGIN
    DELETE FROM rooms_fts WHERE docid = old.id;
END;
CREATE TRIGGER rooms_fts_name_insert AFTER INSERT ON visitors BEGIN
    UPDATE rooms_fts SET name = new.name WHERE docid = new.room_id;
END;
CREATE TRIGGER rooms_fts_name AFTER UPDATE OF name ON visitors WHEN new.name IS NOT old.name BEGIN
    UPDATE rooms_fts SET name = new.name WHERE docid = new.room_id;
END;
