-- MODEL: {database}
-- KIND: DATABASE
-- READS: -
-- PARAMS: {database}
-- Drop the bench's database at the end, even if a crashed child left a connection to it.
--
-- Only databases the bench created are dropped (never the URL's own, which --keep writes into).
DROP DATABASE IF EXISTS {database} WITH (FORCE)
