DROP INDEX chat_messages_search;
DROP TEXT SEARCH CONFIGURATION chat_english;
