-- Single sign-on with OpenID Connect (docs/single-sign-on.md).
--
-- `user_identities` ties a person of an identity provider (`iss`, `sub`) to
-- a user; it is written in the same transaction as the user's
-- `UserIdentityLinked` event, like `users` itself.
CREATE TABLE user_identities
(
    issuer     text        NOT NULL,
    subject    text        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id),
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

-- Sign-ins in flight: between the redirect to the identity provider and its
-- answer at the callback. Operational state, not events: a row lives ten
-- minutes at most and is deleted when used. `state_hash` and
-- `browser_hash` are SHA-256 hex digests of the `state` parameter and of
-- the HttpOnly cookie that ties the sign-in to the browser that started it;
-- the PKCE verifier and the nonce are needed in clear to finish the sign-in.
-- Kept in the database (not in one process's memory) so that the callback
-- may reach any replica.
CREATE TABLE oidc_pending_logins
(
    state_hash     text PRIMARY KEY,
    browser_hash   text        NOT NULL,
    nonce          text        NOT NULL,
    code_verifier  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX oidc_pending_logins_expiry_idx ON oidc_pending_logins (expires_at);
