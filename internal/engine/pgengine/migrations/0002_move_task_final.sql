-- A message move task runs on the lead node while any node may cancel it, so a step's update
-- from the runner can race with a cancel stored by another node. move_task_put therefore never
-- takes a task out of an ended status (CANCELLED, COMPLETED, FAILED): a later put only raises
-- its moved count. Moved counts never go down, whoever puts last.
CREATE OR REPLACE FUNCTION move_task_put(p_handle text, p_source_queue_id bigint, p_source_arn text,
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
            status = CASE WHEN t.status = 'RUNNING' THEN excluded.status ELSE t.status END,
            failure_reason = CASE WHEN t.status = 'RUNNING' THEN excluded.failure_reason ELSE t.failure_reason END,
            moved = greatest(t.moved, excluded.moved), to_move = excluded.to_move,
            started_at = excluded.started_at
$$;
