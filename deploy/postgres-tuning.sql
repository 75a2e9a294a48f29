-- PostgreSQL settings for a LeadHub database server, sized for the reference machine (24 GiB of memory,
-- 2 vCPUs, SSD). The defaults are sized for a tiny machine: with 128 MB of shared buffers, every bulk write
-- (an import, a full recompute) evicts and writes its own pages, and checkpoints come every few seconds.
-- Scale the memory settings with the server: shared_buffers about 25 % of memory, effective_cache_size about
-- 70 %. Apply as a superuser, then restart PostgreSQL (shared_buffers needs it):
--   psql -U postgres -f deploy/postgres-tuning.sql && pg_ctlcluster 15 main restart
-- docker-compose.yml runs this file when it creates the database.
ALTER SYSTEM SET shared_buffers = '6GB';
ALTER SYSTEM SET effective_cache_size = '16GB';
ALTER SYSTEM SET maintenance_work_mem = '1GB';
ALTER SYSTEM SET work_mem = '32MB';
ALTER SYSTEM SET wal_buffers = '64MB';
ALTER SYSTEM SET max_wal_size = '8GB';
ALTER SYSTEM SET min_wal_size = '1GB';
ALTER SYSTEM SET checkpoint_timeout = '15min';
ALTER SYSTEM SET checkpoint_completion_target = 0.9;
ALTER SYSTEM SET wal_compression = 'lz4';
ALTER SYSTEM SET random_page_cost = 1.1;
ALTER SYSTEM SET effective_io_concurrency = 200;
-- A recompute or an import rewrites a million rows at once: autovacuum must be on to reclaim them before
-- the next one (a server configured with it off carries every run's dead rows into the next).
ALTER SYSTEM SET autovacuum = on;
