-- livechat schema, migration 1. Applied by db.go inside one transaction that
-- also sets PRAGMA user_version; later migrations are appended in db.go,
-- never edited here once released.
--
-- Times are integer Unix milliseconds (UTC); db.go formats them as RFC 3339.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,      -- lowercase, [a-z0-9_.-]{1,32}
    password_hash TEXT    NOT NULL,             -- bcrypt of base64(sha256(password))
    email         TEXT    NOT NULL DEFAULT '',
    name          TEXT    NOT NULL DEFAULT '',
    session_epoch INTEGER NOT NULL DEFAULT 0,   -- bumped on password change: older sessions end
    created       INTEGER NOT NULL
);

-- One chatbot per account, created with the account. Column names follow
-- the Go names; the JSON names are the original product's (see Chatbot).
CREATE TABLE chatbots (
    user_id                       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    chatbot_name                  TEXT NOT NULL,
    introduction_text             TEXT NOT NULL,
    header_background_color       TEXT NOT NULL,
    header_text_color             TEXT NOT NULL,
    introduction_background_color TEXT NOT NULL,
    introduction_text_color       TEXT NOT NULL,
    receiver_background           TEXT NOT NULL,
    sender_background             TEXT NOT NULL,
    receiver_text_color           TEXT NOT NULL,
    sender_text_color             TEXT NOT NULL,
    background_color              TEXT NOT NULL,
    input_bar_background          TEXT NOT NULL,
    input_text_color              TEXT NOT NULL,
    picture                       BLOB,             -- NULL when none
    picture_type                  TEXT NOT NULL DEFAULT '',
    picture_etag                  TEXT NOT NULL DEFAULT '',
    updated                       INTEGER NOT NULL
);

-- A room is one conversation between an account and one consumer (visitor).
CREATE TABLE rooms (
    id                 INTEGER PRIMARY KEY,
    user_id            INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    consumer           TEXT    NOT NULL,
    consumer_email     TEXT    NOT NULL DEFAULT '',
    unread             INTEGER NOT NULL DEFAULT 0,  -- visitor messages the admin has not read
    admin_read_up_to   INTEGER NOT NULL DEFAULT 0,  -- last message id the admin has read
    visitor_read_up_to INTEGER NOT NULL DEFAULT 0,  -- last message id the visitor has read
    last_message_id    INTEGER,                     -- denormalised for the room list
    created            INTEGER NOT NULL,
    last_activity      INTEGER NOT NULL,
    UNIQUE (user_id, consumer)
);
-- The inbox lists an account's rooms newest activity first, paged by last_activity.
CREATE INDEX rooms_by_activity ON rooms (user_id, last_activity DESC, id DESC);

-- Uploaded files live in the database so that one file is the whole backup.
CREATE TABLE files (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    token   TEXT    NOT NULL UNIQUE,               -- 128 random bits, hex
    name    TEXT    NOT NULL,
    mime    TEXT    NOT NULL,
    size    INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX files_by_room ON files (room_id);

CREATE TABLE messages (
    id        INTEGER PRIMARY KEY,
    room_id   INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    author    TEXT    NOT NULL,
    content   TEXT    NOT NULL,
    type      TEXT    NOT NULL DEFAULT 'text',     -- "text" or the MIME type of a file
    file      TEXT    NOT NULL DEFAULT '',         -- URL path of the file, or ''
    client_id TEXT,                                -- the sender's idempotency key
    created   INTEGER NOT NULL
);
-- "Last N of a room" and "before id" paging: (room_id, id) in one index.
CREATE INDEX messages_by_room ON messages (room_id, id);
-- A repeated client_id in the same room returns the stored message.
CREATE UNIQUE INDEX messages_client_id ON messages (room_id, client_id) WHERE client_id IS NOT NULL;

-- scs sessions, in the table shape of github.com/alexedwards/scs/sqlite3store.
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);
