-- Sluice PostgreSQL engine, schema version 1.
--
-- Every time is a Unix time in milliseconds (bigint); the engine never reads PostgreSQL's
-- clock: times come from the caller, so that tests control them. Queue ids and message
-- sequences come from sequences and are never reused. Receipt tokens are random, never 0.
--
-- Error codes raised by the functions (SQLSTATE class SL, mapped to engine sentinels):
--   SL001 queue not found, SL002 queue deleted recently, SL003 purge in progress,
--   SL004 in-flight limit reached.
-- Per-receipt statuses returned by message_delete and message_change_visibility:
--   0 ok, 1 message not found, 2 receipt superseded, 3 message not in flight,
--   4 visibility beyond the limit.

CREATE SEQUENCE queue_ids;
CREATE SEQUENCE message_seqs;

CREATE TABLE queues (
    id          bigint PRIMARY KEY,
    account     text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    fifo        boolean NOT NULL,
    attributes  jsonb NOT NULL DEFAULT '{}',
    tags        jsonb NOT NULL DEFAULT '{}',
    created_at  bigint NOT NULL,
    modified_at bigint NOT NULL,
    last_purge  bigint,
    UNIQUE (account, name)
);

-- Names of deleted queues, for the deleted-queue cooldown (kept an hour).
CREATE TABLE tombstones (
    account    text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    deleted_at bigint NOT NULL,
    PRIMARY KEY (account, name)
);

-- A message and its delivery state. visible_at = 0 means visible since it was sent; a message
-- is in flight when visible_at > now and receive_count > 0, delayed when visible_at > now and
-- receive_count = 0, visible otherwise.
CREATE TABLE messages (
    queue_id               bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    seq                    bigint NOT NULL,
    message_id             text NOT NULL,
    body                   text NOT NULL,
    attributes             bytea,
    system_attributes      bytea,
    sender_id              text NOT NULL DEFAULT '',
    sent_at                bigint NOT NULL,
    group_id               text NOT NULL DEFAULT '',
    deduplication_id       text NOT NULL DEFAULT '',
    dead_letter_source_arn text NOT NULL DEFAULT '',
    visible_at             bigint NOT NULL DEFAULT 0,
    received_at            bigint NOT NULL DEFAULT 0,
    first_receive_at       bigint NOT NULL DEFAULT 0,
    token                  bigint NOT NULL DEFAULT 0,
    receive_count          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (queue_id, seq)
);
CREATE INDEX messages_visible ON messages (queue_id, visible_at);
CREATE INDEX messages_sent ON messages (queue_id, sent_at);
CREATE INDEX messages_group ON messages (queue_id, group_id, seq);

-- Deduplication keys, remembered until "until" (after their message is deleted too).
CREATE TABLE dedup (
    queue_id   bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    key        bytea NOT NULL, -- may hold any byte (the queue package joins group and id with NUL)
    message_id text NOT NULL,
    seq        bigint NOT NULL,
    until      bigint NOT NULL,
    PRIMARY KEY (queue_id, key)
);
CREATE INDEX dedup_until ON dedup (queue_id, until);

-- Receive attempts (ReceiveRequestAttemptId) and the receipts they issued.
CREATE TABLE attempts (
    queue_id   bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    attempt_id text NOT NULL,
    until      bigint NOT NULL,
    seqs       bigint[] NOT NULL,
    tokens     bigint[] NOT NULL,
    PRIMARY KEY (queue_id, attempt_id)
);

-- Message move tasks: stored whether or not their queues exist; run by the queue package.
CREATE TABLE move_tasks (
    handle          text PRIMARY KEY,
    source_queue_id bigint NOT NULL,
    source_arn      text NOT NULL,
    destination_arn text NOT NULL,
    max_per_second  integer NOT NULL,
    status          text NOT NULL,
    moved           bigint NOT NULL,
    to_move         bigint NOT NULL,
    failure_reason  text NOT NULL,
    started_at      bigint NOT NULL
);
CREATE INDEX move_tasks_source ON move_tasks (source_queue_id);

-- new_token returns a random non-zero 64-bit receipt token.
CREATE FUNCTION new_token() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t bigint;
BEGIN
    LOOP
        t := ('x' || translate(left(gen_random_uuid()::text, 18), '-', ''))::bit(64)::bigint
             # (('x' || translate(right(gen_random_uuid()::text, 17), '-', ''))::bit(64)::bigint);
        EXIT WHEN t <> 0;
    END LOOP;
    RETURN t;
END $$;

CREATE FUNCTION raise_queue_not_found(p_what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'SL001', MESSAGE = 'queue ' || p_what || ' not found';
END $$;

-- queue_create creates a queue, or returns the existing one with created = false.
CREATE FUNCTION queue_create(p_account text, p_name text, p_fifo boolean, p_attributes jsonb,
                             p_tags jsonb, p_now bigint, p_cooldown bigint)
RETURNS TABLE (id bigint, fifo boolean, attributes jsonb, tags jsonb, created_at bigint,
               modified_at bigint, created boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_deleted bigint;
    v_id bigint;
BEGIN
    RETURN QUERY SELECT q.id, q.fifo, q.attributes, q.tags, q.created_at, q.modified_at, false
        FROM queues q WHERE q.account = p_account AND q.name = p_name;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT t.deleted_at INTO v_deleted FROM tombstones t WHERE t.account = p_account AND t.name = p_name;
    IF FOUND AND p_cooldown > 0 AND p_now - v_deleted < p_cooldown THEN
        RAISE EXCEPTION USING ERRCODE = 'SL002', MESSAGE = 'queue ' || p_name || ' deleted recently';
    END IF;
    INSERT INTO queues AS q (id, account, name, fifo, attributes, tags, created_at, modified_at)
        VALUES (nextval('queue_ids'), p_account, p_name, p_fifo, coalesce(p_attributes, '{}'),
                coalesce(p_tags, '{}'), p_now, p_now)
        ON CONFLICT (account, name) DO NOTHING
        RETURNING q.id INTO v_id;
    IF v_id IS NULL THEN
        -- Created concurrently by another transaction.
        RETURN QUERY SELECT q.id, q.fifo, q.attributes, q.tags, q.created_at, q.modified_at, false
            FROM queues q WHERE q.account = p_account AND q.name = p_name;
        RETURN;
    END IF;
    DELETE FROM tombstones t WHERE t.account = p_account AND t.name = p_name;
    RETURN QUERY SELECT q.id, q.fifo, q.attributes, q.tags, q.created_at, q.modified_at, true
        FROM queues q WHERE q.id = v_id;
END $$;

-- queue_delete deletes a queue with its messages and remembers its name for the cooldown.
CREATE FUNCTION queue_delete(p_account text, p_name text, p_now bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    DELETE FROM queues q WHERE q.account = p_account AND q.name = p_name RETURNING q.id INTO v_id;
    IF v_id IS NULL THEN
        PERFORM raise_queue_not_found(p_name);
    END IF;
    DELETE FROM tombstones t WHERE t.deleted_at < p_now - 3600000;
    INSERT INTO tombstones AS t (account, name, deleted_at) VALUES (p_account, p_name, p_now)
        ON CONFLICT (account, name) DO UPDATE SET deleted_at = excluded.deleted_at;
END $$;

-- queue_update removes, then sets, attributes and tags. modified_at moves only when the
-- attributes change.
CREATE FUNCTION queue_update(p_account text, p_name text, p_now bigint, p_set_attributes jsonb,
                             p_remove_attributes text[], p_set_tags jsonb, p_remove_tags text[])
RETURNS TABLE (id bigint, fifo boolean, attributes jsonb, tags jsonb, created_at bigint,
               modified_at bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    q queues;
    v_attributes jsonb;
    v_tags jsonb;
BEGIN
    SELECT * INTO q FROM queues x WHERE x.account = p_account AND x.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_name);
    END IF;
    v_attributes := (q.attributes - coalesce(p_remove_attributes, '{}')) || coalesce(p_set_attributes, '{}');
    v_tags := (q.tags - coalesce(p_remove_tags, '{}')) || coalesce(p_set_tags, '{}');
    UPDATE queues x SET attributes = v_attributes, tags = v_tags,
        modified_at = CASE WHEN v_attributes <> q.attributes THEN p_now ELSE q.modified_at END
        WHERE x.id = q.id;
    RETURN QUERY SELECT x.id, x.fifo, x.attributes, x.tags, x.created_at, x.modified_at
        FROM queues x WHERE x.id = q.id;
END $$;

-- expire_some deletes up to p_max messages of a queue sent before p_cutoff, oldest first,
-- skipping rows another transaction holds; it returns how many it deleted.
CREATE FUNCTION expire_some(p_queue_id bigint, p_cutoff bigint, p_max integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF p_cutoff IS NULL OR p_cutoff <= 0 THEN
        RETURN 0;
    END IF;
    DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq IN (
        SELECT x.seq FROM messages x WHERE x.queue_id = p_queue_id AND x.sent_at < p_cutoff
        ORDER BY x.sent_at, x.seq LIMIT CASE WHEN p_max > 0 THEN p_max END
        FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- queue_purge deletes every message and deduplication key of a queue.
CREATE FUNCTION queue_purge(p_account text, p_name text, p_now bigint, p_min_interval bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    q queues;
BEGIN
    SELECT * INTO q FROM queues x WHERE x.account = p_account AND x.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_name);
    END IF;
    IF q.last_purge IS NOT NULL AND p_min_interval > 0 AND p_now - q.last_purge < p_min_interval THEN
        RAISE EXCEPTION USING ERRCODE = 'SL003', MESSAGE = 'queue ' || p_name || ' purged recently';
    END IF;
    DELETE FROM messages m WHERE m.queue_id = q.id;
    DELETE FROM dedup d WHERE d.queue_id = q.id;
    DELETE FROM attempts a WHERE a.queue_id = q.id;
    UPDATE queues x SET last_purge = p_now WHERE x.id = q.id;
END $$;

-- queue_stats expires (a bounded number of) messages past retention, then counts the queue's
-- messages by state at p_now.
CREATE FUNCTION queue_stats(p_account text, p_name text, p_now bigint, p_cutoff bigint)
RETURNS TABLE (visible bigint, in_flight bigint, delayed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT q.id INTO v_id FROM queues q WHERE q.account = p_account AND q.name = p_name;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_name);
    END IF;
    PERFORM expire_some(v_id, p_cutoff, 1024);
    RETURN QUERY SELECT
        count(*) FILTER (WHERE m.visible_at <= p_now),
        count(*) FILTER (WHERE m.visible_at > p_now AND m.receive_count > 0),
        count(*) FILTER (WHERE m.visible_at > p_now AND m.receive_count = 0)
        FROM messages m WHERE m.queue_id = v_id;
END $$;

-- message_expire deletes up to p_max messages of a queue sent before p_cutoff.
CREATE FUNCTION message_expire(p_account text, p_name text, p_cutoff bigint, p_max integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT q.id INTO v_id FROM queues q WHERE q.account = p_account AND q.name = p_name;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_name);
    END IF;
    RETURN expire_some(v_id, p_cutoff, p_max);
END $$;

-- message_send stores messages (arrays, one element per entry). Entries whose deduplication
-- key is remembered return the first message instead. FIFO queues and sends with keys lock
-- the queue row, so that a FIFO queue's sequence order is its commit order and a key is
-- claimed once.
CREATE FUNCTION message_send(p_queue_id bigint, p_now bigint, p_dedup_until bigint,
                             p_ids text[], p_bodies text[], p_attributes bytea[],
                             p_system_attributes bytea[], p_senders text[], p_sent_ats bigint[],
                             p_groups text[], p_dedup_ids text[], p_dl_arns text[],
                             p_visible_ats bigint[], p_dedup_keys bytea[])
RETURNS TABLE (seq bigint, duplicate boolean, message_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_fifo boolean;
    v_keys boolean;
    v_seq bigint;
    d record;
BEGIN
    SELECT q.fifo INTO v_fifo FROM queues q WHERE q.id = p_queue_id;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_queue_id::text);
    END IF;
    v_keys := EXISTS (SELECT 1 FROM unnest(p_dedup_keys) k WHERE length(k) > 0);
    IF v_fifo OR v_keys THEN
        PERFORM 1 FROM queues q WHERE q.id = p_queue_id FOR UPDATE;
        IF NOT FOUND THEN
            PERFORM raise_queue_not_found(p_queue_id::text);
        END IF;
    END IF;
    IF v_keys THEN
        DELETE FROM dedup x WHERE x.queue_id = p_queue_id AND x.key IN (
            SELECT y.key FROM dedup y WHERE y.queue_id = p_queue_id AND y.until <= p_now LIMIT 64);
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        IF length(p_dedup_keys[i]) > 0 THEN
            SELECT x.message_id, x.seq INTO d FROM dedup x
                WHERE x.queue_id = p_queue_id AND x.key = p_dedup_keys[i] AND x.until > p_now;
            IF FOUND THEN
                seq := d.seq; duplicate := true; message_id := d.message_id;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        v_seq := nextval('message_seqs');
        INSERT INTO messages (queue_id, seq, message_id, body, attributes, system_attributes,
                              sender_id, sent_at, group_id, deduplication_id,
                              dead_letter_source_arn, visible_at)
            VALUES (p_queue_id, v_seq, p_ids[i], p_bodies[i], p_attributes[i],
                    p_system_attributes[i], p_senders[i], p_sent_ats[i], p_groups[i],
                    p_dedup_ids[i], p_dl_arns[i],
                    CASE WHEN p_visible_ats[i] > p_sent_ats[i] THEN p_visible_ats[i] ELSE 0 END);
        IF length(p_dedup_keys[i]) > 0 THEN
            INSERT INTO dedup AS x (queue_id, key, message_id, seq, until)
                VALUES (p_queue_id, p_dedup_keys[i], p_ids[i], v_seq, p_dedup_until)
                ON CONFLICT (queue_id, key) DO UPDATE
                SET message_id = excluded.message_id, seq = excluded.seq, until = excluded.until;
        END IF;
        seq := v_seq; duplicate := false; message_id := p_ids[i];
        RETURN NEXT;
    END LOOP;
END $$;

-- dead_letter moves a message to a dead-letter queue as a new, visible message that keeps its
-- id, body, attributes and receive count and records the source ARN.
CREATE FUNCTION dead_letter(p_queue_id bigint, p_seq bigint, p_dlq_id bigint, p_arn text,
                            p_reset_sent_at boolean, p_now bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO messages (queue_id, seq, message_id, body, attributes, system_attributes,
                          sender_id, sent_at, group_id, deduplication_id, dead_letter_source_arn,
                          visible_at, received_at, first_receive_at, token, receive_count)
        SELECT p_dlq_id, nextval('message_seqs'), m.message_id, m.body, m.attributes,
               m.system_attributes, m.sender_id,
               CASE WHEN p_reset_sent_at THEN p_now ELSE m.sent_at END,
               m.group_id, m.deduplication_id, p_arn, 0, m.received_at, m.first_receive_at, 0,
               m.receive_count
        FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = p_seq;
    DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = p_seq;
END $$;

-- fifo_head returns the seq of the next message a receive may take from a FIFO queue: the
-- oldest visible message that is the oldest of its group, in a group with no message in
-- flight (p_taken count as in flight); NULL if none.
CREATE FUNCTION fifo_head(p_queue_id bigint, p_now bigint, p_taken bigint[]) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT m.seq FROM messages m
    WHERE m.queue_id = p_queue_id AND m.visible_at <= p_now AND NOT (m.seq = ANY (p_taken))
      AND NOT EXISTS (
          SELECT 1 FROM messages b
          WHERE b.queue_id = p_queue_id AND b.group_id = m.group_id
            AND (b.seq < m.seq OR (b.visible_at > p_now AND b.receive_count > 0)
                 OR b.seq = ANY (p_taken)))
    ORDER BY m.seq LIMIT 1
$$;

-- fifo_next returns the seq of the message a FIFO receive may take after the ones it took from
-- p_group: the group's oldest message not in flight, if it is visible; NULL otherwise.
CREATE FUNCTION fifo_next(p_queue_id bigint, p_group text, p_now bigint, p_taken bigint[])
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN x.visible_at <= p_now THEN x.seq END FROM (
        SELECT m.seq, m.visible_at FROM messages m
        WHERE m.queue_id = p_queue_id AND m.group_id = p_group AND NOT (m.seq = ANY (p_taken))
          AND NOT (m.visible_at > p_now AND m.receive_count > 0)
        ORDER BY m.seq LIMIT 1) x
$$;

-- message_receive takes up to p_max visible messages and makes them invisible until
-- p_visible_at. It returns one row per message taken, then a summary row (seq NULL) with the
-- number of messages dead-lettered and, when none was taken, the next time a message becomes
-- visible (0: none).
--
-- Standard queues take rows with FOR UPDATE SKIP LOCKED, so concurrent receivers (on any
-- node) never wait for each other nor take the same message. FIFO queues lock the queue row:
-- group order and blocking need a consistent view of the whole queue.
CREATE FUNCTION message_receive(p_queue_id bigint, p_now bigint, p_max integer,
                                p_visible_at bigint, p_cutoff bigint, p_max_in_flight integer,
                                p_attempt_id text, p_attempt_until bigint, p_dlq_id bigint,
                                p_dlq_max integer, p_dlq_arn text, p_dlq_reset boolean)
RETURNS TABLE (seq bigint, token bigint, receive_count integer, first_receive_at bigint,
               message_id text, body text, attributes bytea, system_attributes bytea,
               sender_id text, sent_at bigint, group_id text, deduplication_id text,
               dead_letter_source_arn text, dead_lettered integer, next_visible_at bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_fifo boolean;
    v_dlq boolean := false;
    v_taken bigint[] := '{}';
    v_tokens bigint[] := '{}';
    v_dead integer := 0;
    v_skipped integer := 0;
    v_group text;
    v_seq bigint;
    v_token bigint;
    v_found boolean;
    v_retried boolean := false;
    v_next bigint := 0;
    a attempts;
    r record;
BEGIN
    SELECT q.fifo INTO v_fifo FROM queues q WHERE q.id = p_queue_id;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_queue_id::text);
    END IF;
    IF p_dlq_id IS NOT NULL AND p_dlq_id <> p_queue_id THEN
        v_dlq := EXISTS (SELECT 1 FROM queues q WHERE q.id = p_dlq_id);
    END IF;
    IF v_fifo THEN
        -- Lock the queue, and its dead-letter queue, in id order.
        PERFORM 1 FROM queues q
            WHERE q.id = p_queue_id OR (v_dlq AND q.id = p_dlq_id) ORDER BY q.id FOR UPDATE;
        IF NOT EXISTS (SELECT 1 FROM queues q WHERE q.id = p_queue_id) THEN
            PERFORM raise_queue_not_found(p_queue_id::text);
        END IF;
        v_dlq := v_dlq AND EXISTS (SELECT 1 FROM queues q WHERE q.id = p_dlq_id);
    END IF;
    PERFORM expire_some(p_queue_id, p_cutoff, 1024);

    IF p_attempt_id <> '' THEN
        SELECT * INTO a FROM attempts x
            WHERE x.queue_id = p_queue_id AND x.attempt_id = p_attempt_id AND x.until > p_now;
        IF FOUND AND (SELECT count(*) FROM messages m
                      JOIN unnest(a.seqs, a.tokens) AS u (s, t) ON m.seq = u.s AND m.token = u.t
                      WHERE m.queue_id = p_queue_id AND m.receive_count > 0
                        AND m.visible_at > p_now) = cardinality(a.seqs) THEN
            UPDATE messages m SET visible_at = p_visible_at
                WHERE m.queue_id = p_queue_id AND m.seq = ANY (a.seqs);
            v_taken := a.seqs;
            v_retried := true;
        END IF;
    END IF;

    IF NOT v_retried THEN
        IF p_max_in_flight > 0 AND (SELECT count(*) FROM (
                SELECT 1 FROM messages m WHERE m.queue_id = p_queue_id AND m.visible_at > p_now
                AND m.receive_count > 0 LIMIT p_max_in_flight) x) >= p_max_in_flight THEN
            RAISE EXCEPTION USING ERRCODE = 'SL004', MESSAGE = 'in-flight limit reached';
        END IF;
        <<fill>>
        WHILE cardinality(v_taken) < p_max LOOP
            v_found := false;
            FOR r IN
                SELECT m.seq, m.sent_at, m.receive_count, m.group_id FROM messages m
                WHERE NOT v_fifo AND m.queue_id = p_queue_id AND m.visible_at <= p_now
                  AND NOT (m.seq = ANY (v_taken))
                ORDER BY m.seq LIMIT p_max - cardinality(v_taken)
                FOR UPDATE SKIP LOCKED
            LOOP
                v_found := true;
                IF p_cutoff > 0 AND r.sent_at < p_cutoff THEN
                    -- Past retention but not expired yet: delete it rather than deliver it.
                    v_skipped := v_skipped + 1;
                    EXIT fill WHEN v_skipped > 1024;
                    DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = r.seq;
                ELSIF v_dlq AND r.receive_count >= p_dlq_max THEN
                    PERFORM dead_letter(p_queue_id, r.seq, p_dlq_id, p_dlq_arn, p_dlq_reset, p_now);
                    v_dead := v_dead + 1;
                ELSE
                    v_token := new_token();
                    UPDATE messages m SET visible_at = p_visible_at, received_at = p_now,
                        first_receive_at = CASE WHEN m.first_receive_at = 0 THEN p_now ELSE m.first_receive_at END,
                        token = v_token, receive_count = m.receive_count + 1
                        WHERE m.queue_id = p_queue_id AND m.seq = r.seq;
                    v_taken := v_taken || r.seq;
                    v_tokens := v_tokens || v_token;
                END IF;
            END LOOP;
            IF v_fifo THEN
                v_seq := NULL;
                IF v_group IS NOT NULL THEN
                    v_seq := fifo_next(p_queue_id, v_group, p_now, v_taken);
                END IF;
                IF v_seq IS NULL THEN
                    v_seq := fifo_head(p_queue_id, p_now, v_taken);
                END IF;
                EXIT fill WHEN v_seq IS NULL;
                SELECT m.seq, m.sent_at, m.receive_count, m.group_id INTO r FROM messages m
                    WHERE m.queue_id = p_queue_id AND m.seq = v_seq;
                IF p_cutoff > 0 AND r.sent_at < p_cutoff THEN
                    v_skipped := v_skipped + 1;
                    EXIT fill WHEN v_skipped > 1024;
                    DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = r.seq;
                ELSIF v_dlq AND r.receive_count >= p_dlq_max THEN
                    PERFORM dead_letter(p_queue_id, r.seq, p_dlq_id, p_dlq_arn, p_dlq_reset, p_now);
                    v_dead := v_dead + 1;
                ELSE
                    v_token := new_token();
                    UPDATE messages m SET visible_at = p_visible_at, received_at = p_now,
                        first_receive_at = CASE WHEN m.first_receive_at = 0 THEN p_now ELSE m.first_receive_at END,
                        token = v_token, receive_count = m.receive_count + 1
                        WHERE m.queue_id = p_queue_id AND m.seq = r.seq;
                    v_taken := v_taken || r.seq;
                    v_tokens := v_tokens || v_token;
                    v_group := r.group_id;
                END IF;
            ELSIF NOT v_found THEN
                EXIT fill;
            END IF;
        END LOOP;
        IF p_attempt_id <> '' AND cardinality(v_taken) > 0 THEN
            DELETE FROM attempts x WHERE x.queue_id = p_queue_id AND x.attempt_id IN (
                SELECT y.attempt_id FROM attempts y
                WHERE y.queue_id = p_queue_id AND y.until <= p_now LIMIT 64);
            INSERT INTO attempts AS x (queue_id, attempt_id, until, seqs, tokens)
                VALUES (p_queue_id, p_attempt_id, p_attempt_until, v_taken, v_tokens)
                ON CONFLICT (queue_id, attempt_id) DO UPDATE
                SET until = excluded.until, seqs = excluded.seqs, tokens = excluded.tokens;
        END IF;
    END IF;

    IF cardinality(v_taken) = 0 THEN
        SELECT coalesce(min(m.visible_at), 0) INTO v_next FROM messages m
            WHERE m.queue_id = p_queue_id AND m.visible_at > p_now;
    END IF;
    RETURN QUERY SELECT m.seq, m.token, m.receive_count, m.first_receive_at, m.message_id,
            m.body, m.attributes, m.system_attributes, m.sender_id, m.sent_at, m.group_id,
            m.deduplication_id, m.dead_letter_source_arn, NULL::integer, NULL::bigint
        FROM messages m JOIN unnest(v_taken) WITH ORDINALITY AS u (s, o) ON m.seq = u.s
        WHERE m.queue_id = p_queue_id ORDER BY u.o;
    seq := NULL; token := NULL; receive_count := NULL; first_receive_at := NULL;
    message_id := NULL; body := NULL; attributes := NULL; system_attributes := NULL;
    sender_id := NULL; sent_at := NULL; group_id := NULL; deduplication_id := NULL;
    dead_letter_source_arn := NULL;
    dead_lettered := v_dead;
    next_visible_at := v_next;
    RETURN NEXT;
END $$;

-- check_receipt locks the message of a receipt and returns its status (see the top of this
-- file) and, when 0, the time of the receive that issued it.
CREATE FUNCTION check_receipt(p_queue_id bigint, p_now bigint, p_receipt_queue bigint,
                              p_seq bigint, p_token bigint, p_require_in_flight boolean,
                              OUT status integer, OUT received_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    received_at := 0;
    IF p_receipt_queue <> p_queue_id OR p_token = 0 THEN
        status := 1;
        RETURN;
    END IF;
    SELECT m.token, m.receive_count, m.visible_at, m.received_at AS rat INTO r FROM messages m
        WHERE m.queue_id = p_queue_id AND m.seq = p_seq FOR UPDATE;
    IF NOT FOUND OR r.receive_count = 0 THEN
        status := 1;
    ELSIF r.token <> p_token THEN
        status := 2;
    ELSIF p_require_in_flight AND NOT (r.visible_at > p_now) THEN
        status := 3;
    ELSE
        status := 0;
        received_at := r.rat;
    END IF;
END $$;

-- message_delete deletes the message of each receipt (arrays, one element per receipt) and
-- returns a status per receipt.
CREATE FUNCTION message_delete(p_queue_id bigint, p_now bigint, p_receipt_queues bigint[],
                               p_seqs bigint[], p_tokens bigint[], p_require_in_flight boolean)
RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
    v_out integer[] := '{}';
    c record;
BEGIN
    PERFORM 1 FROM queues q WHERE q.id = p_queue_id;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_queue_id::text);
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_seqs, 1), 0) LOOP
        c := check_receipt(p_queue_id, p_now, p_receipt_queues[i], p_seqs[i], p_tokens[i],
                           p_require_in_flight);
        IF c.status = 0 THEN
            DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = p_seqs[i];
        END IF;
        v_out := v_out || c.status;
    END LOOP;
    RETURN v_out;
END $$;

-- message_change_visibility sets a new visibility deadline per receipt and returns a status
-- per receipt. p_max_since (ms, 0: none) caps a deadline relative to the receive that issued
-- the receipt.
CREATE FUNCTION message_change_visibility(p_queue_id bigint, p_now bigint,
                                          p_receipt_queues bigint[], p_seqs bigint[],
                                          p_tokens bigint[], p_visible_ats bigint[],
                                          p_require_in_flight boolean, p_max_since bigint)
RETURNS integer[] LANGUAGE plpgsql AS $$
DECLARE
    v_out integer[] := '{}';
    c record;
BEGIN
    PERFORM 1 FROM queues q WHERE q.id = p_queue_id;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_queue_id::text);
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_seqs, 1), 0) LOOP
        c := check_receipt(p_queue_id, p_now, p_receipt_queues[i], p_seqs[i], p_tokens[i],
                           p_require_in_flight);
        IF c.status = 0 AND p_max_since > 0 AND p_visible_ats[i] - c.received_at > p_max_since THEN
            c.status := 4;
        END IF;
        IF c.status = 0 THEN
            UPDATE messages m SET visible_at = greatest(p_visible_ats[i], 1)
                WHERE m.queue_id = p_queue_id AND m.seq = p_seqs[i];
        END IF;
        v_out := v_out || c.status;
    END LOOP;
    RETURN v_out;
END $$;

-- message_move moves up to p_max visible messages of a queue (a move task's step), each as a
-- new message that keeps its id, body and attributes, to p_destination or, when that is 0, to
-- the queue p_source_ids[i] of its dead-letter source ARN p_source_arns[i]. It stops at the
-- first message with no destination and returns its ARN ('?' when it has none) as unroutable.
CREATE FUNCTION message_move(p_queue_id bigint, p_now bigint, p_max integer,
                             p_destination bigint, p_source_arns text[], p_source_ids bigint[],
                             OUT moved integer, OUT unroutable text)
LANGUAGE plpgsql AS $$
DECLARE
    v_fifo boolean;
    v_live bigint[];
    v_seq bigint;
    v_dst bigint;
    r record;
BEGIN
    moved := 0;
    unroutable := '';
    SELECT array_agg(x.id) INTO v_live FROM (
        SELECT q.id FROM queues q
        WHERE q.id = p_queue_id OR q.id = p_destination OR q.id = ANY (p_source_ids)
        ORDER BY q.id FOR UPDATE) x;
    IF v_live IS NULL OR NOT (p_queue_id = ANY (v_live))
       OR (p_destination <> 0 AND NOT (p_destination = ANY (v_live))) THEN
        PERFORM raise_queue_not_found(p_queue_id::text);
    END IF;
    SELECT q.fifo INTO v_fifo FROM queues q WHERE q.id = p_queue_id;
    WHILE moved < p_max LOOP
        IF v_fifo THEN
            v_seq := fifo_head(p_queue_id, p_now, '{}');
        ELSE
            SELECT m.seq INTO v_seq FROM messages m
                WHERE m.queue_id = p_queue_id AND m.visible_at <= p_now
                ORDER BY m.seq LIMIT 1 FOR UPDATE SKIP LOCKED;
            IF NOT FOUND THEN
                v_seq := NULL;
            END IF;
        END IF;
        EXIT WHEN v_seq IS NULL;
        SELECT m.dead_letter_source_arn AS arn INTO r FROM messages m
            WHERE m.queue_id = p_queue_id AND m.seq = v_seq;
        v_dst := NULLIF(p_destination, 0);
        IF v_dst IS NULL THEN
            v_dst := p_source_ids[array_position(p_source_arns, r.arn)];
        END IF;
        IF v_dst IS NULL OR v_dst = p_queue_id OR NOT (v_dst = ANY (v_live)) THEN
            unroutable := coalesce(NULLIF(r.arn, ''), '?');
            EXIT;
        END IF;
        INSERT INTO messages (queue_id, seq, message_id, body, attributes, system_attributes,
                              sender_id, sent_at, group_id, deduplication_id)
            SELECT v_dst, nextval('message_seqs'), m.message_id, m.body, m.attributes,
                   m.system_attributes, m.sender_id, p_now, m.group_id, m.deduplication_id
            FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = v_seq;
        DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = v_seq;
        moved := moved + 1;
    END LOOP;
END $$;

-- move_task_put stores a message move task, replacing the one with the same handle.
CREATE FUNCTION move_task_put(p_handle text, p_source_queue_id bigint, p_source_arn text,
                              p_destination_arn text, p_max_per_second integer, p_status text,
                              p_moved bigint, p_to_move bigint, p_failure_reason text,
                              p_started_at bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO move_tasks AS t (handle, source_queue_id, source_arn, destination_arn,
                                 max_per_second, status, moved, to_move, failure_reason, started_at)
        VALUES (p_handle, p_source_queue_id, p_source_arn, p_destination_arn, p_max_per_second,
                p_status, p_moved, p_to_move, p_failure_reason, p_started_at)
        ON CONFLICT (handle) DO UPDATE SET
            source_queue_id = excluded.source_queue_id, source_arn = excluded.source_arn,
            destination_arn = excluded.destination_arn, max_per_second = excluded.max_per_second,
            status = excluded.status, moved = excluded.moved, to_move = excluded.to_move,
            failure_reason = excluded.failure_reason, started_at = excluded.started_at
$$;
