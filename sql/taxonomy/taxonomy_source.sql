-- MODEL: taxonomy_source
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- One row per loaded taxonomy: the file its rows came from.
--
-- One row per loaded taxonomy: the file its rows came from, so an unchanged file is not loaded again
-- (pipelines/taxonomy.py:ensure_taxonomies). `loader` names the code that built the rows (loader version and
-- SDK version): a new SDK may tag names differently (get_tag), which changes taxonomy_name for the same file.
CREATE TABLE IF NOT EXISTS taxonomy_source (
    taxonomy VARCHAR PRIMARY KEY,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    mtime TIMESTAMPTZ NOT NULL,
    loader VARCHAR NOT NULL,
    nodes BIGINT NOT NULL,
    parents BIGINT NOT NULL,
    ancestors BIGINT NOT NULL,
    names BIGINT NOT NULL,
    load_seconds DOUBLE NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
