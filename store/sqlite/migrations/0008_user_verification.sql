-- A push approval gated by the device owner: the WebAuthn credential the
-- web app registered at enrollment, and a client's override of the
-- server's requirement ('on', 'off', '' for the default).
ALTER TABLE devices ADD COLUMN webauthn BLOB;
ALTER TABLE clients ADD COLUMN user_verification TEXT NOT NULL DEFAULT '';
