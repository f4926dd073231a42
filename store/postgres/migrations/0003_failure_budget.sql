-- The per-user budget of failed logins, shared by every instance: a token
-- bucket as its theoretical arrival time, Unix milliseconds.
ALTER TABLE users ADD COLUMN fail_tat BIGINT NOT NULL DEFAULT 0;
-- The request that last accepted a code of the token (RFC 5080's duplicate
-- key, hashed): its retransmission to another instance is answered as it
-- was, not refused as a replay.
ALTER TABLE tokens ADD COLUMN last_request BYTEA;
