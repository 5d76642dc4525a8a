-- Fair queues (docs/fair-queues.md): on a standard queue, MessageGroupId names a tenant, and a
-- receive takes messages by rank, then seq. A tenant's messages get consecutive ranks from where
-- it left off, but never below the queue's front, so a tenant's k-th waiting message ranks with
-- every other tenant's k-th: tenants with a backlog take turns, and one that sends a few messages
-- during another's flood is served at once. Messages without a group id keep rank 0, at the
-- front (they are never a flood of one tenant), so a queue without group ids costs nothing more.
-- FIFO queues keep rank 0 and their own order.
ALTER TABLE messages ADD COLUMN rank bigint NOT NULL DEFAULT 0;
CREATE INDEX messages_rank ON messages (queue_id, rank, seq);
CREATE INDEX messages_tenant_rank ON messages (queue_id, rank, seq) WHERE group_id <> '';

-- The last rank given to each tenant of a standard queue.
CREATE TABLE tenants (
    queue_id  bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    group_id  text NOT NULL,
    last_rank bigint NOT NULL,
    PRIMARY KEY (queue_id, group_id)
);

CREATE OR REPLACE FUNCTION message_send(p_queue_id bigint, p_now bigint, p_dedup_until bigint,
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
    v_floor bigint;
    v_rank bigint;
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
    IF NOT v_fifo AND EXISTS (SELECT 1 FROM unnest(p_groups) g WHERE g <> '') THEN
        -- Fair queues: the lowest rank of a tenant's message, or, with none, the highest rank a
        -- tenant reached, so that a tenant back from idle does not jump ahead.
        v_floor := coalesce((SELECT m.rank FROM messages m WHERE m.queue_id = p_queue_id
                                 AND m.group_id <> '' ORDER BY m.rank, m.seq LIMIT 1),
                            (SELECT max(t.last_rank) FROM tenants t WHERE t.queue_id = p_queue_id), 0);
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
        v_rank := 0;
        IF NOT v_fifo AND p_groups[i] <> '' THEN
            INSERT INTO tenants AS t (queue_id, group_id, last_rank)
                VALUES (p_queue_id, p_groups[i], v_floor)
                ON CONFLICT (queue_id, group_id) DO UPDATE
                SET last_rank = greatest(t.last_rank + 1, v_floor)
                RETURNING t.last_rank INTO v_rank;
        END IF;
        INSERT INTO messages (queue_id, seq, message_id, body, attributes, system_attributes,
                              sender_id, sent_at, group_id, deduplication_id,
                              dead_letter_source_arn, visible_at, rank)
            VALUES (p_queue_id, v_seq, p_ids[i], p_bodies[i], p_attributes[i],
                    p_system_attributes[i], p_senders[i], p_sent_ats[i], p_groups[i],
                    p_dedup_ids[i], p_dl_arns[i],
                    CASE WHEN p_visible_ats[i] > p_sent_ats[i] THEN p_visible_ats[i] ELSE 0 END, v_rank);
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

CREATE OR REPLACE FUNCTION message_receive(p_queue_id bigint, p_now bigint, p_max integer,
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
                ORDER BY m.rank, m.seq LIMIT p_max - cardinality(v_taken)
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

-- queue_stats also reports a fair queue's tenants with visible messages and the largest one's
-- visible backlog (zero on FIFO queues), in the same pass over the queue's rows as the counts.
DROP FUNCTION queue_stats(text, text, bigint, bigint);
CREATE FUNCTION queue_stats(p_account text, p_name text, p_now bigint, p_cutoff bigint)
RETURNS TABLE (visible bigint, in_flight bigint, delayed bigint, tenants bigint, largest_tenant bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_fifo boolean;
BEGIN
    SELECT q.id, q.fifo INTO v_id, v_fifo FROM queues q WHERE q.account = p_account AND q.name = p_name;
    IF NOT FOUND THEN
        PERFORM raise_queue_not_found(p_name);
    END IF;
    PERFORM expire_some(v_id, p_cutoff, 1024);
    RETURN QUERY
    WITH per_group AS (
        SELECT m.group_id,
               count(*) FILTER (WHERE m.visible_at <= p_now) AS v,
               count(*) FILTER (WHERE m.visible_at > p_now AND m.receive_count > 0) AS f,
               count(*) FILTER (WHERE m.visible_at > p_now AND m.receive_count = 0) AS d
        FROM messages m WHERE m.queue_id = v_id GROUP BY m.group_id)
    SELECT coalesce(sum(g.v), 0)::bigint, coalesce(sum(g.f), 0)::bigint, coalesce(sum(g.d), 0)::bigint,
           CASE WHEN v_fifo THEN 0 ELSE count(*) FILTER (WHERE g.group_id <> '' AND g.v > 0) END,
           CASE WHEN v_fifo THEN 0 ELSE coalesce(max(g.v) FILTER (WHERE g.group_id <> ''), 0) END
    FROM per_group g;
END $$;
