-- Reply attributes added to Access-Accept, per user group or per client.
CREATE TABLE reply_attrs (
	id         INTEGER PRIMARY KEY,
	scope      TEXT NOT NULL CHECK (scope IN ('group', 'client')),
	target     TEXT NOT NULL,
	attr       TEXT NOT NULL,
	value      TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX reply_attrs_target ON reply_attrs(scope, target);
