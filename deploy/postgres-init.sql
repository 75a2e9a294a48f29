-- Run once by the postgres image on its first start (docker-entrypoint-initdb.d), as the superuser.
-- Creates the role LeadHub connects with: it may log in and own its database, but it is no superuser
-- and has no BYPASSRLS, so the row-level security policies `migrate` installs on every tenant table
-- bind it (they are FORCEd, so owning the tables does not exempt it either).
-- The same thing on an existing server: `python manage.py db_bootstrap --admin-url postgres://...`.

\getenv app_password LEADHUB_DB_PASSWORD

CREATE ROLE leadhub_app WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB PASSWORD :'app_password';
-- An import checks the foreign keys of the rows it writes per range instead of per row, with row triggers
-- off in its own transactions (leads/imports/references.py); row-level security is no trigger.
GRANT SET ON PARAMETER session_replication_role TO leadhub_app;
CREATE DATABASE leadhub OWNER leadhub_app;
-- Only the owner connects to it.
REVOKE ALL ON DATABASE leadhub FROM PUBLIC;
-- Under row-level security PostgreSQL uses an index only for leakproof operators; LIKE (contact search,
-- served by a trigram index) raises no error that depends on a row's value, so it is marked leakproof.
\connect leadhub
ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF;
