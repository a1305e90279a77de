DROP TABLE phi_access_log;
DROP FUNCTION phi_access_log_append_only();
