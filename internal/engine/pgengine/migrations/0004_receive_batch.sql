-- Faster receives, deletes and sends (docs/postgres.md, "Performance choices").
--
-- A standard queue's receive locks its candidates with one SELECT ... FOR UPDATE SKIP LOCKED
-- and takes them with one UPDATE, instead of a statement per message. The rows taken are read
-- back by their physical address (ctid), which the planner always reads directly.
--
-- Expiring the queue's old messages (p_expire) and counting its in-flight messages
-- (p_max_in_flight > 0; the count is returned) run only when the caller asks: both read past the
-- dead index entries that deletes leave, and the caller asks at most about once a second per
-- queue (pgengine's queueGate).
--
-- Plans: PL/pgSQL caches a generic plan per statement after a few calls. Planned while a queue
-- is small (a new table, or a queue that was near empty before a burst), the lookup of the
-- queue's head becomes a bitmap scan of every visible message plus a sort, and stays so while
-- the backlog grows: every receive then reads the whole queue. message_receive and
-- message_send_rows run with sorts and bitmap scans disabled, so that the head is always read in
-- index order (messages_rank) and stops after the messages it needs, whatever the statistics
-- say. (A sort still runs where no plan avoids it, at a cost that would turn JIT compilation on:
-- jit = off.) The leading node also runs ANALYZE on messages after many changes (leader.go).

-- new_token: a random, non-zero receipt token. The first 64 bits of a version-4 UUID: 60 random
-- bits, and the version nibble (4) makes it non-zero. SQL, so that it inlines into an UPDATE.
CREATE OR REPLACE FUNCTION new_token() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT ('x' || translate(left(gen_random_uuid()::text, 18), '-', ''))::bit(64)::bigint
$$;

-- receive_discard deals with a locked message a receive met that it must not deliver: one past
-- retention is deleted (1), one received p_dlq_max times already moves to the dead-letter queue
-- (2, only when p_dlq). Any other message is left alone (0): the caller delivers it.
CREATE FUNCTION receive_discard(p_queue_id bigint, p_seq bigint, p_sent_at bigint,
                                p_receive_count integer, p_now bigint, p_cutoff bigint,
                                p_dlq boolean, p_dlq_id bigint, p_dlq_max integer,
                                p_dlq_arn text, p_dlq_reset boolean)
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    IF p_cutoff > 0 AND p_sent_at < p_cutoff THEN
        DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = p_seq;
        RETURN 1;
    ELSIF p_dlq AND p_receive_count >= p_dlq_max THEN
        PERFORM dead_letter(p_queue_id, p_seq, p_dlq_id, p_dlq_arn, p_dlq_reset, p_now);
        RETURN 2;
    END IF;
    RETURN 0;
END $$;

DROP FUNCTION message_receive(bigint, bigint, integer, bigint, bigint, integer, text, bigint,
                              bigint, integer, text, boolean);
CREATE FUNCTION message_receive(p_queue_id bigint, p_now bigint, p_max integer,
                                p_visible_at bigint, p_cutoff bigint, p_max_in_flight integer,
                                p_attempt_id text, p_attempt_until bigint, p_dlq_id bigint,
                                p_dlq_max integer, p_dlq_arn text, p_dlq_reset boolean,
                                p_expire boolean)
RETURNS TABLE (seq bigint, token bigint, receive_count integer, first_receive_at bigint,
               message_id text, body text, attributes bytea, system_attributes bytea,
               sender_id text, sent_at bigint, group_id text, deduplication_id text,
               dead_letter_source_arn text, dead_lettered integer, next_visible_at bigint,
               in_flight integer)
LANGUAGE plpgsql SET enable_sort = off SET enable_bitmapscan = off SET jit = off AS $$
#variable_conflict use_column
DECLARE
    v_fifo boolean;
    v_dlq boolean := false;
    v_taken bigint[] := '{}';  -- seqs taken, in delivery order
    v_tokens bigint[] := '{}'; -- their receipt tokens
    v_rows tid[] := '{}';      -- their rows (as updated), when read back at the end
    v_dead integer := 0;
    v_skipped integer := 0;
    v_in_flight integer := -1;
    v_group text;
    v_seq bigint;
    v_retried boolean := false;
    v_next bigint := 0;
    v_status integer;
    c_rows tid[];
    c_seqs bigint[];
    c_sent bigint[];
    c_counts integer[];
    v_ok tid[];
    v_ok_seqs bigint[];
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
    IF p_expire THEN
        PERFORM expire_some(p_queue_id, p_cutoff, 1024);
    END IF;

    IF p_attempt_id <> '' THEN
        SELECT * INTO a FROM attempts x
            WHERE x.queue_id = p_queue_id AND x.attempt_id = p_attempt_id AND x.until > p_now;
        IF FOUND AND (SELECT count(*) FROM messages m
                      JOIN unnest(a.seqs, a.tokens) AS u (s, t) ON m.seq = u.s AND m.token = u.t
                      WHERE m.queue_id = p_queue_id AND m.receive_count > 0
                        AND m.visible_at > p_now) = cardinality(a.seqs) THEN
            WITH u AS (UPDATE messages m SET visible_at = p_visible_at
                       WHERE m.queue_id = p_queue_id AND m.seq = ANY (a.seqs)
                       RETURNING m.ctid AS c, m.seq AS s)
            SELECT array_agg(u.c ORDER BY array_position(a.seqs, u.s)) INTO v_rows FROM u;
            v_taken := a.seqs;
            v_retried := true;
        END IF;
    END IF;

    IF NOT v_retried THEN
        IF p_max_in_flight > 0 THEN
            SELECT count(*) INTO v_in_flight FROM (
                SELECT 1 FROM messages m WHERE m.queue_id = p_queue_id AND m.visible_at > p_now
                AND m.visible_at > 0 AND m.receive_count > 0 LIMIT p_max_in_flight) x;
            IF v_in_flight >= p_max_in_flight THEN
                RAISE EXCEPTION USING ERRCODE = 'SL004', MESSAGE = 'in-flight limit reached';
            END IF;
        END IF;
        IF NOT v_fifo THEN
            -- Lock up to the wanted number of visible messages in one statement, discard the
            -- few that must not be delivered, take the rest in one UPDATE; look again only if
            -- some were discarded.
            LOOP
                SELECT array_agg(x.ctid ORDER BY x.rank, x.seq), array_agg(x.seq ORDER BY x.rank, x.seq),
                       array_agg(x.sent_at ORDER BY x.rank, x.seq),
                       array_agg(x.receive_count ORDER BY x.rank, x.seq)
                    INTO c_rows, c_seqs, c_sent, c_counts
                    FROM (SELECT m.ctid, m.seq, m.rank, m.sent_at, m.receive_count FROM messages m
                          WHERE m.queue_id = p_queue_id AND m.visible_at <= p_now
                            AND NOT (m.seq = ANY (v_taken))
                          ORDER BY m.rank, m.seq LIMIT p_max - cardinality(v_taken)
                          FOR UPDATE SKIP LOCKED) x;
                EXIT WHEN c_rows IS NULL;
                v_ok := c_rows;
                v_ok_seqs := c_seqs;
                IF (p_cutoff > 0 AND EXISTS (SELECT 1 FROM unnest(c_sent) s WHERE s < p_cutoff))
                   OR (v_dlq AND EXISTS (SELECT 1 FROM unnest(c_counts) n WHERE n >= p_dlq_max)) THEN
                    v_ok := '{}';
                    v_ok_seqs := '{}';
                    FOR i IN 1 .. cardinality(c_rows) LOOP
                        v_status := receive_discard(p_queue_id, c_seqs[i], c_sent[i], c_counts[i],
                                                    p_now, p_cutoff, v_dlq, p_dlq_id, p_dlq_max,
                                                    p_dlq_arn, p_dlq_reset);
                        IF v_status = 0 THEN
                            v_ok := v_ok || c_rows[i];
                            v_ok_seqs := v_ok_seqs || c_seqs[i];
                        ELSIF v_status = 1 THEN
                            v_skipped := v_skipped + 1;
                        ELSE
                            v_dead := v_dead + 1;
                        END IF;
                    END LOOP;
                END IF;
                IF cardinality(v_ok) > 0 AND p_attempt_id = '' THEN
                    -- Taken and returned in one statement.
                    RETURN QUERY
                    WITH u AS (
                        UPDATE messages m SET visible_at = p_visible_at, received_at = p_now,
                            first_receive_at = CASE WHEN m.first_receive_at = 0 THEN p_now ELSE m.first_receive_at END,
                            token = new_token(), receive_count = m.receive_count + 1
                        WHERE m.ctid = ANY (v_ok)
                        RETURNING m.*)
                    SELECT u.seq, u.token, u.receive_count, u.first_receive_at, u.message_id,
                           u.body, u.attributes, u.system_attributes, u.sender_id, u.sent_at,
                           u.group_id, u.deduplication_id, u.dead_letter_source_arn,
                           NULL::integer, NULL::bigint, NULL::integer
                    FROM u ORDER BY u.rank, u.seq;
                    v_taken := v_taken || v_ok_seqs;
                ELSIF cardinality(v_ok) > 0 THEN
                    -- With an attempt id: its record needs the tokens.
                    WITH u AS (
                        UPDATE messages m SET visible_at = p_visible_at, received_at = p_now,
                            first_receive_at = CASE WHEN m.first_receive_at = 0 THEN p_now ELSE m.first_receive_at END,
                            token = new_token(), receive_count = m.receive_count + 1
                        WHERE m.ctid = ANY (v_ok)
                        RETURNING m.ctid AS c, m.seq AS s, m.rank AS k, m.token AS t)
                    SELECT v_rows || array_agg(u.c ORDER BY u.k, u.s),
                           v_taken || array_agg(u.s ORDER BY u.k, u.s),
                           v_tokens || array_agg(u.t ORDER BY u.k, u.s)
                        INTO v_rows, v_taken, v_tokens FROM u;
                END IF;
                EXIT WHEN cardinality(v_ok) = cardinality(c_rows) OR cardinality(v_taken) >= p_max
                          OR v_skipped > 1024;
            END LOOP;
        ELSE
            -- FIFO: one message at a time, the group of the last one taken first.
            WHILE cardinality(v_taken) < p_max LOOP
                v_seq := NULL;
                IF v_group IS NOT NULL THEN
                    v_seq := fifo_next(p_queue_id, v_group, p_now, v_taken);
                END IF;
                IF v_seq IS NULL THEN
                    v_seq := fifo_head(p_queue_id, p_now, v_taken);
                END IF;
                EXIT WHEN v_seq IS NULL;
                SELECT m.seq, m.sent_at, m.receive_count, m.group_id INTO r FROM messages m
                    WHERE m.queue_id = p_queue_id AND m.seq = v_seq;
                v_status := receive_discard(p_queue_id, r.seq, r.sent_at, r.receive_count, p_now,
                                            p_cutoff, v_dlq, p_dlq_id, p_dlq_max, p_dlq_arn,
                                            p_dlq_reset);
                IF v_status = 0 THEN
                    UPDATE messages m SET visible_at = p_visible_at, received_at = p_now,
                        first_receive_at = CASE WHEN m.first_receive_at = 0 THEN p_now ELSE m.first_receive_at END,
                        token = new_token(), receive_count = m.receive_count + 1
                        WHERE m.queue_id = p_queue_id AND m.seq = r.seq
                        RETURNING v_rows || m.ctid, v_taken || m.seq, v_tokens || m.token
                        INTO v_rows, v_taken, v_tokens;
                    v_group := r.group_id;
                ELSIF v_status = 1 THEN
                    v_skipped := v_skipped + 1;
                    EXIT WHEN v_skipped > 1024;
                ELSE
                    v_dead := v_dead + 1;
                END IF;
            END LOOP;
        END IF;
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
            WHERE m.queue_id = p_queue_id AND m.visible_at > p_now AND m.visible_at > 0;
    ELSIF cardinality(v_rows) > 0 THEN
        -- Rows taken but not returned yet (FIFO, an attempt id, an attempt replayed).
        RETURN QUERY SELECT m.seq, m.token, m.receive_count, m.first_receive_at, m.message_id,
                m.body, m.attributes, m.system_attributes, m.sender_id, m.sent_at, m.group_id,
                m.deduplication_id, m.dead_letter_source_arn, NULL::integer, NULL::bigint,
                NULL::integer
            FROM messages m WHERE m.ctid = ANY (v_rows) ORDER BY array_position(v_rows, m.ctid);
    END IF;
    seq := NULL; token := NULL; receive_count := NULL; first_receive_at := NULL;
    message_id := NULL; body := NULL; attributes := NULL; system_attributes := NULL;
    sender_id := NULL; sent_at := NULL; group_id := NULL; deduplication_id := NULL;
    dead_letter_source_arn := NULL;
    dead_lettered := v_dead;
    next_visible_at := v_next;
    in_flight := v_in_flight;
    RETURN NEXT;
END $$;

-- message_delete deletes each receipt's message with one statement, a lookup by primary key;
-- only a receipt that deleted nothing is looked at again (check_receipt) to tell why. (One
-- statement for the whole batch, seq = ANY (...), is planned as a scan of the whole queue while
-- the table's statistics say it is small.)
CREATE OR REPLACE FUNCTION message_delete(p_queue_id bigint, p_now bigint, p_receipt_queues bigint[],
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
        IF p_receipt_queues[i] = p_queue_id AND p_tokens[i] <> 0 THEN
            DELETE FROM messages m
                WHERE m.queue_id = p_queue_id AND m.seq = p_seqs[i] AND m.token = p_tokens[i]
                  AND m.receive_count > 0 AND (NOT p_require_in_flight OR m.visible_at > p_now);
            IF FOUND THEN
                v_out := v_out || 0;
                CONTINUE;
            END IF;
        END IF;
        c := check_receipt(p_queue_id, p_now, p_receipt_queues[i], p_seqs[i], p_tokens[i],
                           p_require_in_flight);
        IF c.status = 0 THEN
            -- Became deletable since the statement above (check_receipt holds the row now).
            DELETE FROM messages m WHERE m.queue_id = p_queue_id AND m.seq = p_seqs[i];
        END IF;
        v_out := v_out || c.status;
    END LOOP;
    RETURN v_out;
END $$;

-- message_send: a batch for a standard queue with neither group ids nor deduplication keys (the
-- common case) is stored with one INSERT; anything else goes through the row-by-row function
-- of migration 0003, renamed message_send_rows.
ALTER FUNCTION message_send(bigint, bigint, bigint, text[], text[], bytea[], bytea[], text[],
                            bigint[], text[], text[], text[], bigint[], bytea[])
    RENAME TO message_send_rows;
ALTER FUNCTION message_send_rows(bigint, bigint, bigint, text[], text[], bytea[], bytea[], text[],
                                 bigint[], text[], text[], text[], bigint[], bytea[])
    SET enable_sort = off SET enable_bitmapscan = off SET jit = off;
CREATE FUNCTION message_send(p_queue_id bigint, p_now bigint, p_dedup_until bigint,
                             p_ids text[], p_bodies text[], p_attributes bytea[],
                             p_system_attributes bytea[], p_senders text[], p_sent_ats bigint[],
                             p_groups text[], p_dedup_ids text[], p_dl_arns text[],
                             p_visible_ats bigint[], p_dedup_keys bytea[])
RETURNS TABLE (seq bigint, duplicate boolean, message_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF (SELECT q.fifo FROM queues q WHERE q.id = p_queue_id) IS NOT FALSE
       OR EXISTS (SELECT 1 FROM unnest(p_groups) g WHERE g <> '')
       OR EXISTS (SELECT 1 FROM unnest(p_dedup_keys) k WHERE length(k) > 0) THEN
        RETURN QUERY SELECT * FROM message_send_rows(p_queue_id, p_now, p_dedup_until, p_ids,
            p_bodies, p_attributes, p_system_attributes, p_senders, p_sent_ats, p_groups,
            p_dedup_ids, p_dl_arns, p_visible_ats, p_dedup_keys);
        RETURN;
    END IF;
    RETURN QUERY
    WITH i AS (
        INSERT INTO messages (queue_id, seq, message_id, body, attributes, system_attributes,
                              sender_id, sent_at, group_id, deduplication_id,
                              dead_letter_source_arn, visible_at, rank)
        SELECT p_queue_id, nextval('message_seqs'), u.id, u.body, u.attrs, u.sys, u.sender,
               u.sent, '', u.dedup, u.arn, CASE WHEN u.vis > u.sent THEN u.vis ELSE 0 END, 0
        FROM unnest(p_ids, p_bodies, p_attributes, p_system_attributes, p_senders, p_sent_ats,
                    p_dedup_ids, p_dl_arns, p_visible_ats)
             AS u (id, body, attrs, sys, sender, sent, dedup, arn, vis)
        RETURNING messages.seq, messages.message_id)
    SELECT i.seq, false, i.message_id FROM i;
END $$;
