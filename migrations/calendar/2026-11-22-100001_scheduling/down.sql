DROP TABLE google_busy_refresh;
DROP TABLE google_sync_jobs;
DROP TABLE external_busy;
DROP TABLE google_connections;
DROP TABLE appointments;
DROP TABLE date_overrides;
DROP TABLE weekly_hours;
DROP TABLE clinic_settings;
