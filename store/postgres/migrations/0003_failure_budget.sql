-- The per-user budget of failed logins, shared by every instance: a token
-- bucket as its theoretical arrival time, Unix milliseconds.
ALTER TABLE users ADD COLUMN fail_tat BIGINT NOT NULL DEFAULT 0;
