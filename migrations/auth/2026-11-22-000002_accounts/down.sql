DROP TRIGGER audit_log_no_truncate ON audit_log; DROP TRIGGER audit_log_no_rewrite ON audit_log; DROP FUNCTION audit_log_append_only(); ALTER TABLE audit_log DROP COLUMN ip, DROP COLUMN user_agent;
DROP TABLE signing_keys; DROP TABLE sessions; DROP TABLE memberships; DROP TABLE organizations; DROP TABLE users;
