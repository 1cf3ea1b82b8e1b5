-- livechat schema, migration 3: business hours and the away reply (SPEC
-- Part 2, "Hours and away"). Applied by db.go like migration 1; never
-- edited once released.

-- hours: NULL (always open) or the normalised JSON of Hours (hours.go).
ALTER TABLE chatbots ADD COLUMN hours TEXT;
ALTER TABLE chatbots ADD COLUMN away_message TEXT NOT NULL
    DEFAULT 'We''re away right now. Leave your email and we''ll answer you there.';
ALTER TABLE chatbots ADD COLUMN ask_email TEXT NOT NULL DEFAULT 'away';

-- When the room last got the away message (Unix ms; 0: never): a visitor
-- message outside hours gets one only if this is older than the start of
-- the current closed period.
ALTER TABLE rooms ADD COLUMN away_replied INTEGER NOT NULL DEFAULT 0;

-- 1 for a message the server wrote by itself (the away message).
ALTER TABLE messages ADD COLUMN auto INTEGER NOT NULL DEFAULT 0;
