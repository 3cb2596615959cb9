-- MODEL: taxonomy_name
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- Name/synonym keys of the taxonomies → node id (the SDK's create_taxonomy_mapping).
--
-- The SDK's create_taxonomy_mapping, which Robotoff's match_taxonomized_value uses to canonicalize a tag:
-- key "<lang>:<get_tag(name or synonym)>" (lower-cased) → node id, e.g. fr:agriculture-biologique → en:organic.
-- One row per key; when several nodes give the same key the SDK's dict keeps the last one written (see
-- docs/taxonomies.md), and so does this table since its rows are that dict.
CREATE TABLE IF NOT EXISTS taxonomy_name (
    taxonomy VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    id VARCHAR NOT NULL
);
