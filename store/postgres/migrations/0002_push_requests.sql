-- Push requests shared between instances: the instance that holds the
-- RADIUS request waits, the phone's answer may reach any instance. At most
-- one pending request per user (user_key is the lower-cased name). Times
-- are Unix milliseconds. Ended requests are swept after a while.
CREATE TABLE push_requests (
	id              TEXT COLLATE "C" PRIMARY KEY,
	serial          TEXT COLLATE "C" NOT NULL,
	user_name       TEXT NOT NULL,
	user_key        TEXT COLLATE "C" NOT NULL,
	client          TEXT NOT NULL DEFAULT '',
	nas_identifier  TEXT NOT NULL DEFAULT '',
	nas_ip          TEXT NOT NULL DEFAULT '',
	calling_station TEXT NOT NULL DEFAULT '',
	number          INTEGER NOT NULL DEFAULT 0,
	choices         INTEGER[] NOT NULL DEFAULT '{}',
	state           BYTEA NOT NULL UNIQUE,
	created_at      BIGINT NOT NULL,
	expires_at      BIGINT NOT NULL,
	outcome         TEXT NOT NULL DEFAULT 'pending',
	ended_at        BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX push_requests_pending_user ON push_requests(user_key) WHERE outcome = 'pending';
CREATE INDEX push_requests_serial ON push_requests(serial) WHERE outcome = 'pending';
CREATE INDEX push_requests_expires ON push_requests(expires_at);
