-- Hardware token details from PSKC imports, and validity (also for
-- temporary replacement tokens).
ALTER TABLE tokens ADD COLUMN manufacturer TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN valid_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN valid_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tokens_state ON tokens(state, type);
