DROP TRIGGER sessions_org_switch ON sessions;
DROP FUNCTION sessions_remember_org();
DROP TABLE session_orgs;
DROP INDEX sessions_user_revoked;
DROP INDEX sessions_revoked_at;
