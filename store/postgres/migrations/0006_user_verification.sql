-- A push approval gated by the device owner: the WebAuthn credential the
-- web app registered at enrollment, a client's override of the server's
-- requirement ('on', 'off', '' for the default), and whether a shared
-- push request needs it.
ALTER TABLE devices ADD COLUMN webauthn BYTEA;
ALTER TABLE clients ADD COLUMN user_verification TEXT NOT NULL DEFAULT '';
ALTER TABLE push_requests ADD COLUMN require_uv BOOLEAN NOT NULL DEFAULT false;
