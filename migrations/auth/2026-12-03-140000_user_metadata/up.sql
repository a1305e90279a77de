-- GoTrue's `user_metadata` (ADR 0018): what a Supabase client sends as `data` at signup and in
-- PUT /user. Free-form JSON owned by the user, never trusted for authorization.
ALTER TABLE users ADD COLUMN user_metadata jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE users ADD CONSTRAINT users_user_metadata_object
    CHECK (jsonb_typeof(user_metadata) = 'object' AND pg_column_size(user_metadata) <= 16384);
