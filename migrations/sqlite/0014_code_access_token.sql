-- The access token a code's redemption issued, so that a replay of the code can
-- put it on the revocation list (its refresh family is revoked through family_id).
ALTER TABLE authorization_codes ADD COLUMN access_jti TEXT;
ALTER TABLE authorization_codes ADD COLUMN access_exp INTEGER;
