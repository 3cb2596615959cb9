-- MODEL: product_insight
-- KIND: UPDATE
-- READS: refresh_product
-- PARAMS: $server_type
-- Refresh step: unannotated insights follow their product's countries, brands and scans.
--
-- Unannotated insights of the refreshed products follow the product's countries, brands and scan count
-- (Robotoff's daily refresh job, scheduler/__init__.py:73-230), without touching anything else. Parameter
-- $server_type (every refreshed product's): the join is on the barcode alone (an index lookup per product).
UPDATE product_insight i
SET countries = r.countries_tags, brands = r.brands_tags, unique_scans_n = r.unique_scans_n
FROM refresh_product r
WHERE r.barcode = i.barcode AND i.server_type = $server_type
  AND i.annotation IS NULL
  AND (
      i.countries IS DISTINCT FROM r.countries_tags OR i.brands IS DISTINCT FROM r.brands_tags
      OR i.unique_scans_n IS DISTINCT FROM r.unique_scans_n
  )
RETURNING i.type;
