-- MODEL: max_line_bytes
-- KIND: QUERY
-- READS: -
-- PARAMS: $max_line_bytes
-- Sets the line size limit the parsed_lines view reads (a view takes no parameters; a variable is a value,
-- not text spliced into SQL).
SET VARIABLE max_line_bytes = $max_line_bytes::BIGINT;
