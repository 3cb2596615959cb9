-- MODEL: annotate_attempt
-- KIND: DELETE
-- READS: annotate_attempt, product_insight, @annotate_outcomes
-- PARAMS: -
-- Forgets the failed attempts of the insights a write-back run wrote or found done, and of insights gone.
--
-- An insight that reached an end without an error (written, already done on the product, missing product)
-- needs no count any more; nor does one the refresh deleted. Insights recorded as failed keep their row
-- (its `last_error` is the reason, docs/annotate.md, "Failures").
DELETE FROM annotate_attempt AS a
WHERE a.insight_id IN (SELECT o.id::UUID FROM annotate_outcomes AS o WHERE o.error IS NULL)
   OR NOT EXISTS (SELECT 1 FROM product_insight AS i WHERE i.id = a.insight_id);
