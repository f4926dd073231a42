-- Push tokens: the phone a push token is bound to, single-use activation
-- codes, a per-user push lock (fraud reports), per-client number matching.
ALTER TABLE users ADD COLUMN push_locked_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN number_matching TEXT NOT NULL DEFAULT '';

CREATE TABLE activations (
	token_id   INTEGER PRIMARY KEY REFERENCES tokens(id) ON DELETE CASCADE,
	code_hash  BLOB NOT NULL,
	expires_at INTEGER NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);

CREATE TABLE devices (
	token_id      INTEGER PRIMARY KEY REFERENCES tokens(id) ON DELETE CASCADE,
	public_key    BLOB NOT NULL,
	apns_token    TEXT NOT NULL DEFAULT '',
	apns_invalid  INTEGER NOT NULL DEFAULT 0,
	os            TEXT NOT NULL DEFAULT '',
	os_version    TEXT NOT NULL DEFAULT '',
	model         TEXT NOT NULL DEFAULT '',
	app_version   TEXT NOT NULL DEFAULT '',
	notifications INTEGER NOT NULL DEFAULT 0,
	enrolled_at   INTEGER NOT NULL,
	last_seen     INTEGER NOT NULL DEFAULT 0
);
