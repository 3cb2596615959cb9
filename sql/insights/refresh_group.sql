-- MODEL: refresh_group
-- KIND: TABLE
-- READS: refresh_prediction
-- PARAMS: $types
-- Refresh step: the (product, insight type) pairs whose importer runs.
--
-- refresh_group: the (product, insight type) pairs whose importer runs in this refresh — those with at
-- least one stored prediction of the type, for the importers' types ($types). Insights of other types of the
-- product are left as they are.
CREATE OR REPLACE TEMP TABLE refresh_group AS
SELECT DISTINCT barcode, server_type, type FROM refresh_prediction WHERE list_contains($types, type);
