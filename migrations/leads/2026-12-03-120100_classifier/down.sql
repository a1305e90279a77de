DROP TABLE call_intents;
DROP TABLE classify_queue;
