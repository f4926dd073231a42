-- radmfa schema, version 1: users, tokens, RADIUS clients, audit log.
-- Times are Unix seconds (audit: Unix milliseconds). Secrets are sealed BLOBs.
CREATE TABLE meta (
	k TEXT PRIMARY KEY,
	v BLOB NOT NULL
);

CREATE TABLE users (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	email      TEXT NOT NULL DEFAULT '',
	grp        TEXT NOT NULL DEFAULT '',
	disabled   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);

CREATE TABLE tokens (
	id           INTEGER PRIMARY KEY,
	serial       TEXT NOT NULL UNIQUE,
	user_id      INTEGER REFERENCES users(id),
	type         TEXT NOT NULL,
	origin       TEXT NOT NULL,
	state        TEXT NOT NULL,
	algorithm    TEXT NOT NULL,
	digits       INTEGER NOT NULL,
	period       INTEGER NOT NULL DEFAULT 0,
	seed         BLOB,
	counter      INTEGER NOT NULL DEFAULT 0,
	last_step    INTEGER NOT NULL DEFAULT 0,
	drift        INTEGER NOT NULL DEFAULT 0,
	pin_hash     TEXT NOT NULL DEFAULT '',
	fail_count   INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	last_used    INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	version      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE clients (
	id          INTEGER PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	cidr        TEXT NOT NULL,
	secret      BLOB NOT NULL,
	require_ma  INTEGER NOT NULL DEFAULT 0,
	nas_type    TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
);

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY,
	at     INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	user   TEXT NOT NULL DEFAULT '',
	serial TEXT NOT NULL DEFAULT '',
	client TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_user ON audit(user, at);
