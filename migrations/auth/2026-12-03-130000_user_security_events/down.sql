ALTER TABLE organizations DROP COLUMN share_member_login_failures;
DROP TABLE user_security_events;
