-- livechat schema, migration 9: notifications wired (issue 10). Applied by
-- db.go like migration 1; never edited once released.

-- (messages.private, which the notifier reads, came with migration 8.)

-- The visitor's reply emails: the newest reply already mailed (replies
-- after it are mailed once they are notify-after old and unread), the
-- room's unsubscribe token (made with its first email) and whether the
-- visitor unsubscribed.
ALTER TABLE rooms ADD COLUMN visitor_mailed_up_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN unsubscribe_token TEXT;
ALTER TABLE rooms ADD COLUMN mail_off INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX rooms_by_unsubscribe ON rooms (unsubscribe_token) WHERE unsubscribe_token IS NOT NULL;

-- The last notification email of a conversation to each agent: the newest
-- visitor message it held, when it went, and when a notification held
-- back by the 30-minute limit is due (0: none).
CREATE TABLE agent_notices (
    room_id  INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    up_to    INTEGER NOT NULL DEFAULT 0,
    sent     INTEGER NOT NULL DEFAULT 0,
    retry_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX agent_notices_due ON agent_notices (retry_at) WHERE retry_at > 0;

-- The notifier's watermark: every message up to this id has been looked
-- at. It starts at the newest message, so an upgrade mails nothing old.
INSERT INTO server_state (name, value) VALUES ('notify_watermark', (SELECT coalesce(max(id), 0) FROM messages));
