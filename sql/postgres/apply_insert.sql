-- MODEL: {relation}
-- KIND: INSERT
-- READS: {stage}
-- PARAMS: {relation}, {stage}, {insert_columns}, {insert_values}, {insert_order}
-- Insert the rows the rules added (op i), set-based, in key order.
--
-- For `prediction`, PostgreSQL's serial gives the ids; the working copy's ids only order the insert, so new
-- rows keep the order the rules gave them.
INSERT INTO {relation} ({insert_columns})
SELECT {insert_values}
FROM {stage} AS s
WHERE s.op = 'i'
ORDER BY {insert_order}
