DROP TABLE leases;
DROP TABLE token_usage;
DROP TABLE message_feedback;
