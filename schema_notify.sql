-- livechat schema, migration 2: the mail outbox and browser push. Applied
-- by db.go like migration 1; never edited once released.

-- The outbox: maragu.dev/goqite's table, exactly as its schema_sqlite.sql
-- (v0.4.0) makes it, since goqite's queries name it and its columns. Its
-- times are goqite's own RFC 3339 text, not our Unix milliseconds.
CREATE TABLE goqite (
  id text primary key default ('m_' || lower(hex(randomblob(16)))),
  created text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  updated text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  queue text not null,
  body blob not null,
  timeout text not null default (strftime('%Y-%m-%dT%H:%M:%fZ')),
  received integer not null default 0,
  priority integer not null default 0
) strict;

CREATE TRIGGER goqite_updated_timestamp AFTER UPDATE ON goqite BEGIN
  update goqite set updated = strftime('%Y-%m-%dT%H:%M:%fZ') where id = old.id;
END;

CREATE INDEX goqite_queue_priority_created_idx ON goqite (queue, priority desc, created);

-- Emails the outbox gave up on (a 5xx answer, or 24 h of failed tries),
-- shown to the owner of user_id (0: no business).
CREATE TABLE mail_failures (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL,
    recipient TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    error     TEXT    NOT NULL,
    created   INTEGER NOT NULL
);
CREATE INDEX mail_failures_by_user ON mail_failures (user_id, id);

-- The server's VAPID key pair (RFC 8292), made on first start: one row.
CREATE TABLE vapid_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    private_key TEXT    NOT NULL,   -- base64url P-256 scalar
    public_key  TEXT    NOT NULL,   -- base64url uncompressed point
    created     INTEGER NOT NULL
);

-- Browsers' push subscriptions (the PushSubscription JSON), per agent.
CREATE TABLE push_subscriptions (
    id       INTEGER PRIMARY KEY,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    endpoint TEXT    NOT NULL UNIQUE,
    p256dh   TEXT    NOT NULL,      -- base64url, as the browser gave it
    auth     TEXT    NOT NULL,
    created  INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);
