DROP TABLE knowledge_changes;
DROP FUNCTION knowledge_changes_append_only();
DROP TABLE knowledge_words;
DROP TABLE knowledge_chunks;
DROP TABLE knowledge_documents;
DROP TABLE knowledge_settings;
