DROP INDEX chat_messages_search;
