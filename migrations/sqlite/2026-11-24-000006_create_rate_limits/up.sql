-- Fixed-window request counters, shared by every replica through the database.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);

CREATE INDEX rate_limits_window ON rate_limits (window_start);
