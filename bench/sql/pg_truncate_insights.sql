-- MODEL: product_insight
-- KIND: DELETE
-- READS: product_insight
-- PARAMS: -
-- Empty the insights before a concurrent phase of the listener bench, so the bulk refresh has work to apply.
--
-- A bulk refresh of an unchanged snapshot applies nothing; emptied, it inserts every insight again in
-- chunks under bucket locks while the listener writes: the contention the issue asks to measure. CASCADE
-- empties annotation_vote (its foreign key); nothing else refers to product_insight.
TRUNCATE product_insight CASCADE
