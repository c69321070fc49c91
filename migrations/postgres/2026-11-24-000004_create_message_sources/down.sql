DROP TABLE message_sources;
