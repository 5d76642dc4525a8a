-- Fewer index entries per message (docs/postgres.md, "Performance choices"). Every send inserts
-- into each index of messages, and so does every receive (its UPDATE changes visible_at, which
-- an index holds, so it is never a HOT update). Two indexes now hold only the rows their
-- queries look for:
--   messages_visible: only rows with visible_at > 0, i.e. received or delayed once. A fresh
--     message (visible_at = 0) is never in flight nor delayed, and the queries on this index
--     (in-flight count, next visible time, peek's blocked groups) look for visible_at > now.
--   messages_group: only rows with a group id (FIFO queues and fair queues); queries of a group
--     say group_id <> '' so the planner can use it.
-- A standard queue without group ids now writes 3 index entries per send (was 5) and 4 per
-- receive (was 5).
DROP INDEX messages_visible;
CREATE INDEX messages_visible ON messages (queue_id, visible_at) WHERE visible_at > 0;
DROP INDEX messages_group;
CREATE INDEX messages_group ON messages (queue_id, group_id, seq) WHERE group_id <> '';

-- fifo_head and fifo_next as in migration 0001, with group_id <> '' (always true on a FIFO
-- queue) for the partial messages_group.
CREATE OR REPLACE FUNCTION fifo_head(p_queue_id bigint, p_now bigint, p_taken bigint[]) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT m.seq FROM messages m
    WHERE m.queue_id = p_queue_id AND m.visible_at <= p_now AND NOT (m.seq = ANY (p_taken))
      AND NOT EXISTS (
          SELECT 1 FROM messages b
          WHERE b.queue_id = p_queue_id AND b.group_id = m.group_id AND b.group_id <> ''
            AND (b.seq < m.seq OR (b.visible_at > p_now AND b.receive_count > 0)
                 OR b.seq = ANY (p_taken)))
    ORDER BY m.seq LIMIT 1
$$;

CREATE OR REPLACE FUNCTION fifo_next(p_queue_id bigint, p_group text, p_now bigint, p_taken bigint[])
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN x.visible_at <= p_now THEN x.seq END FROM (
        SELECT m.seq, m.visible_at FROM messages m
        WHERE m.queue_id = p_queue_id AND m.group_id = p_group AND m.group_id <> ''
          AND NOT (m.seq = ANY (p_taken)) AND NOT (m.visible_at > p_now AND m.receive_count > 0)
        ORDER BY m.seq LIMIT 1) x
$$;
