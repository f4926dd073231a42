-- The per-user budget of failed logins, kept with the user so that the
-- rate limit holds across restarts (and, on PostgreSQL, across instances):
-- a token bucket as its theoretical arrival time, Unix milliseconds.
ALTER TABLE users ADD COLUMN fail_tat INTEGER NOT NULL DEFAULT 0;
