-- Accounting (RFC 2866): a user's sessions on a NAS, one row per
-- (client, NAS, Acct-Session-Id). Times are Unix seconds; stopped_at 0 is
-- a session still active.
CREATE TABLE sessions (
	id              INTEGER PRIMARY KEY,
	client          TEXT NOT NULL,
	nas             TEXT NOT NULL,
	session_id      TEXT NOT NULL,
	user_name       TEXT NOT NULL DEFAULT '',
	framed_ip       TEXT NOT NULL DEFAULT '',
	calling_station TEXT NOT NULL DEFAULT '',
	started_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	stopped_at      INTEGER NOT NULL DEFAULT 0,
	duration        INTEGER NOT NULL DEFAULT 0,
	in_octets       INTEGER NOT NULL DEFAULT 0,
	out_octets      INTEGER NOT NULL DEFAULT 0,
	terminate_cause TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX sessions_key ON sessions(client, nas, session_id);
CREATE INDEX sessions_user ON sessions(lower(user_name));
CREATE INDEX sessions_active ON sessions(client, nas) WHERE stopped_at = 0;

-- What a client's NAS waits before it gives up (0: its type's defaults),
-- and the certificate a RadSec client is known by (a RadSec client may
-- have no cidr).
ALTER TABLE clients ADD COLUMN nas_timeout_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN nas_retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN cert_cn TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN cert_fingerprint TEXT NOT NULL DEFAULT '';
