-- The per-user budget of failed logins, kept with the user so that the
-- rate limit holds across restarts (and, on PostgreSQL, across instances):
-- a token bucket as its theoretical arrival time, Unix milliseconds.
ALTER TABLE users ADD COLUMN fail_tat INTEGER NOT NULL DEFAULT 0;
-- The request that last accepted a code of the token (RFC 5080's duplicate
-- key, hashed): its retransmission, after a restart or to another
-- instance, is answered as it was, not refused as a replay.
ALTER TABLE tokens ADD COLUMN last_request BLOB;
