-- Voxanne Postgres bootstrap: roles, the database, schemas, grants. Idempotent.
--   psql -v ON_ERROR_STOP=1 -d postgres -f deploy/postgres/bootstrap.sql [-v dbname=voxanne]
-- Run by a superuser; no service ever connects as one.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\if :{?dbname}
\else
  \set dbname voxanne
\endif
\ir roles.sql
SELECT format('CREATE DATABASE %I', :'dbname')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname')\gexec
\connect :dbname
\ir schemas.sql
