-- What a client's users type before the code: the token's PIN (''/'pin'/
-- 'none') or their directory password ('directory').
ALTER TABLE clients ADD COLUMN first_factor TEXT NOT NULL DEFAULT '';
