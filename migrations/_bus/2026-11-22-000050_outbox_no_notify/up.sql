-- A NOTIFY makes Postgres serialise the commits of every transaction that sent one (the notify
-- queue lock is held through commit). Measured here with 16 clients: 6,947 commits/s for plain
-- outbox inserts, 1,007/s with the notify trigger. The relay polls instead (BUS_RELAY_POLL_MS,
-- 25 ms by default); its LISTEN stays, so an explicit NOTIFY still wakes it at once.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
