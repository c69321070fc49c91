-- Fixed-window request counters, shared by every replica through the database.
-- UNLOGGED: counters that last a minute need no crash safety, and skipping the
-- write-ahead log makes the upsert on every request cheaper.
CREATE UNLOGGED TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);

CREATE INDEX rate_limits_window ON rate_limits (window_start);
