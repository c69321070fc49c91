-- Keys the service generates for itself (the JWT signing key when JWT_SECRET
-- is not set), kept in the database so every process on it uses the same one.
-- Written once, by the first process to start: INSERT … ON CONFLICT.
CREATE TABLE signing_keys (
    name TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
