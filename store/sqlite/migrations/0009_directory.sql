-- Users from a directory: where each user comes from (a directory's name,
-- '' for one added by hand) and their entry there, and the directories.
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
CREATE TABLE directories (
	id            INTEGER PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	urls          TEXT NOT NULL,
	bind_dn       TEXT NOT NULL DEFAULT '',
	bind_password BLOB NOT NULL,
	base_dn       TEXT NOT NULL,
	user_filter   TEXT NOT NULL DEFAULT '',
	login_attr    TEXT NOT NULL,
	email_attr    TEXT NOT NULL DEFAULT '',
	group_attr    TEXT NOT NULL DEFAULT '',
	start_tls     INTEGER NOT NULL DEFAULT 0,
	ca_cert       BLOB,
	group_map     TEXT NOT NULL DEFAULT '[]',
	created_at    INTEGER NOT NULL
);
