-- The event stream (`GET /v1/events`): job events are delivered in the order their
-- transactions' ids give, and only once every older transaction has ended, so a reader resuming
-- after the last event it saw misses none. A bigserial alone cannot promise that: ids are drawn
-- before commit, so a transaction that drew a smaller id can commit after one with a larger id
-- was read.
--
-- `txid` is the inserting transaction's id (xid8, as a bigint; a bigint never wraps here).
-- Rows written before this migration all get the migration's own transaction id, and keep their
-- `id` order among themselves.
ALTER TABLE job_events
    ADD COLUMN txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX job_events_stream ON job_events (txid, id);
