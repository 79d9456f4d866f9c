-- Built-in users: who may sign in, their argon2id password hashes, their
-- sessions with rotating refresh tokens, and the login throttle.
--
-- `users` is written in the same transaction as the user's events (User
-- aggregate), so a login sees an invitation, a role change or a disabling
-- at once. Password hashes, invite tokens and refresh tokens live only
-- here, never in the log. Tokens are stored as SHA-256 hex digests (they
-- are 256-bit random values, so a fast hash suffices; passwords, chosen by
-- people, get argon2id).

CREATE TABLE users
(
    id                   uuid PRIMARY KEY,
    -- Lower-cased; one account per address.
    email                text        NOT NULL UNIQUE,
    name                 text        NOT NULL,
    role                 text        NOT NULL,
    tenants              uuid[]      NOT NULL DEFAULT '{}',
    disabled_at          timestamptz,
    -- argon2id PHC string; NULL until an invitation is accepted.
    password_hash        text,
    password_changed_at  timestamptz,
    -- SHA-256 hex of the one-time invite token, while it is unused.
    invite_token_hash    text UNIQUE,
    invite_expires_at    timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);

-- One row per sign-in: the session id is the access tokens' `sid` and the
-- refresh token family.
CREATE TABLE auth_sessions
(
    id            uuid PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    -- The family's absolute end: refreshing never extends it.
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoked_reason text,
    source_ip     text,
    user_agent    text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id) WHERE revoked_at IS NULL;

-- Every refresh token a session was given; the current one has no used_at.
-- Presenting a used one is reuse: the whole session (family) is revoked.
CREATE TABLE auth_refresh_tokens
(
    token_hash  text PRIMARY KEY,
    session_id  uuid        NOT NULL REFERENCES auth_sessions (id),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX auth_refresh_tokens_session_idx ON auth_refresh_tokens (session_id);

-- Failed sign-ins per account (`email:<address>`) and per client address
-- (`ip:<address>`), shared by every process.
CREATE TABLE auth_throttle
(
    key             text PRIMARY KEY,
    failures        integer     NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz
);
