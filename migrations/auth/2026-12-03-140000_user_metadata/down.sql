ALTER TABLE users DROP CONSTRAINT users_user_metadata_object;
ALTER TABLE users DROP COLUMN user_metadata;
