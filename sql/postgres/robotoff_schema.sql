-- MODEL: product_insight, prediction, annotation_vote, image, image_prediction, logo_annotation, logo_confidence_threshold, base_model, migratehistory, image_embedding, logo_embedding
-- KIND: SCHEMA
-- READS: pg_constraint
-- PARAMS: -
-- Robotoff's database as its release 1.85.10 migrations (001 to 009) leave it, for a fresh PostgreSQL store.
--
-- `offpipe store init` runs this only when the database has no `product_insight` table: Robotoff's API,
-- Hunger Games and the apps then read the insights offpipe writes, and Robotoff's own `migrate-db` sees the
-- migrations as applied (postgres/robotoff_migrations_record). Columns, types, nullability, serial ids,
-- keys and index names are those of Robotoff's peewee models after the migrations (docs/store.md); like
-- them, no column has a default other than the serial ids' sequences. Robotoff's tables go to the first
-- schema of the search path (`public` by default), its embeddings to the schema `embedding`.
-- Every statement is idempotent: what exists already is left as it is, what is missing is added.
CREATE SCHEMA IF NOT EXISTS embedding;

CREATE TABLE IF NOT EXISTS product_insight (
    id uuid PRIMARY KEY,
    barcode varchar(100) NOT NULL,
    type varchar(256) NOT NULL,
    data jsonb NOT NULL,
    "timestamp" timestamp,
    completed_at timestamp,
    annotation integer,
    annotated_result integer,
    n_votes integer NOT NULL,
    username text,
    countries jsonb,
    brands jsonb,
    process_after timestamp,
    value_tag text,
    value text,
    source_image text,
    automatic_processing boolean NOT NULL,
    server_type varchar(10),
    unique_scans_n integer NOT NULL,
    reserved_barcode boolean NOT NULL,
    predictor varchar(100),
    predictor_version varchar(100),
    campaign jsonb,
    confidence real,
    bounding_box jsonb,
    lc varchar(255)[],
    with_image boolean
);

CREATE TABLE IF NOT EXISTS prediction (
    id serial PRIMARY KEY,
    barcode varchar(100) NOT NULL,
    type varchar(256) NOT NULL,
    data jsonb NOT NULL,
    "timestamp" timestamp NOT NULL,
    value_tag text,
    value text,
    source_image text,
    automatic_processing boolean,
    predictor varchar(100),
    predictor_version varchar(100),
    confidence real,
    server_type varchar(10) NOT NULL
);

CREATE TABLE IF NOT EXISTS annotation_vote (
    id uuid PRIMARY KEY,
    insight_id uuid NOT NULL,
    username text,
    value integer NOT NULL,
    device_id text NOT NULL,
    "timestamp" timestamp NOT NULL
);

CREATE TABLE IF NOT EXISTS image (
    id serial PRIMARY KEY,
    barcode varchar(100) NOT NULL,
    uploaded_at timestamp,
    image_id varchar(50) NOT NULL,
    source_image text NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    deleted boolean NOT NULL,
    server_type varchar(10),
    fingerprint bigint
);

CREATE TABLE IF NOT EXISTS image_prediction (
    id serial PRIMARY KEY,
    type varchar(256) NOT NULL,
    model_name varchar(100) NOT NULL,
    model_version varchar(256) NOT NULL,
    data jsonb NOT NULL,
    "timestamp" timestamp,
    image_id integer NOT NULL,
    max_confidence real
);

CREATE TABLE IF NOT EXISTS logo_annotation (
    id serial PRIMARY KEY,
    image_prediction_id integer NOT NULL,
    index integer NOT NULL,
    bounding_box jsonb NOT NULL,
    score real NOT NULL,
    annotation_value varchar(255),
    annotation_value_tag varchar(255),
    taxonomy_value varchar(255),
    annotation_type varchar(255),
    username text,
    completed_at timestamp,
    nearest_neighbors jsonb,
    barcode varchar(100),
    source_image text,
    text text,
    server_type varchar(10)
);

CREATE TABLE IF NOT EXISTS logo_confidence_threshold (
    id serial PRIMARY KEY,
    type varchar(255),
    value varchar(255),
    threshold real NOT NULL
);

CREATE TABLE IF NOT EXISTS base_model (
    id serial PRIMARY KEY
);

-- peewee-migrate's ledger of applied migrations (its own table, created by Robotoff's `migrate-db`).
CREATE TABLE IF NOT EXISTS migratehistory (
    id serial PRIMARY KEY,
    name varchar(255) NOT NULL,
    migrated_at timestamp NOT NULL
);

CREATE TABLE IF NOT EXISTS embedding.image_embedding (
    image_id integer PRIMARY KEY,
    embedding bytea NOT NULL
);

CREATE TABLE IF NOT EXISTS embedding.logo_embedding (
    logo_id integer PRIMARY KEY,
    embedding bytea NOT NULL
);

-- Foreign keys, under the names PostgreSQL gives them, each added only when the table lacks it. A vote
-- goes with its insight, an embedding with its image or logo; predictions and logos of an image do not.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'annotation_vote'::regclass AND conname = 'annotation_vote_insight_id_fkey'
    ) THEN
        ALTER TABLE annotation_vote ADD CONSTRAINT annotation_vote_insight_id_fkey
            FOREIGN KEY (insight_id) REFERENCES product_insight (id) ON DELETE CASCADE;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'image_prediction'::regclass AND conname = 'image_prediction_image_id_fkey'
    ) THEN
        ALTER TABLE image_prediction ADD CONSTRAINT image_prediction_image_id_fkey
            FOREIGN KEY (image_id) REFERENCES image (id);
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'logo_annotation'::regclass AND conname = 'logo_annotation_image_prediction_id_fkey'
    ) THEN
        ALTER TABLE logo_annotation ADD CONSTRAINT logo_annotation_image_prediction_id_fkey
            FOREIGN KEY (image_prediction_id) REFERENCES image_prediction (id);
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'embedding.image_embedding'::regclass AND conname = 'image_embedding_image_id_fkey'
    ) THEN
        ALTER TABLE embedding.image_embedding ADD CONSTRAINT image_embedding_image_id_fkey
            FOREIGN KEY (image_id) REFERENCES image (id) ON DELETE CASCADE;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'embedding.logo_embedding'::regclass AND conname = 'logo_embedding_logo_id_fkey'
    ) THEN
        ALTER TABLE embedding.logo_embedding ADD CONSTRAINT logo_embedding_logo_id_fkey
            FOREIGN KEY (logo_id) REFERENCES logo_annotation (id) ON DELETE CASCADE;
    END IF;
END
$$;

-- Indexes with Robotoff's names: peewee's `<model>_<column>` for the initial ones, the migrations' own
-- names for the later ones (product_insight_lc, product_insight_with_image, logo_annotation_server_type).
-- The migrations 004 and 005 dropped the indexes on data, bounding boxes, confidence, username and a few
-- more, so they are absent here too.
CREATE INDEX IF NOT EXISTS productinsight_annotation ON product_insight (annotation);
CREATE INDEX IF NOT EXISTS productinsight_automatic_processing ON product_insight (automatic_processing);
CREATE INDEX IF NOT EXISTS productinsight_barcode ON product_insight (barcode);
CREATE INDEX IF NOT EXISTS productinsight_brands ON product_insight USING gin (brands);
CREATE INDEX IF NOT EXISTS productinsight_campaign ON product_insight USING gin (campaign);
CREATE INDEX IF NOT EXISTS productinsight_countries ON product_insight USING gin (countries);
CREATE INDEX IF NOT EXISTS productinsight_n_votes ON product_insight (n_votes);
CREATE INDEX IF NOT EXISTS productinsight_predictor ON product_insight (predictor);
CREATE INDEX IF NOT EXISTS productinsight_reserved_barcode ON product_insight (reserved_barcode);
CREATE INDEX IF NOT EXISTS productinsight_server_type ON product_insight (server_type);
CREATE INDEX IF NOT EXISTS productinsight_source_image ON product_insight (source_image);
CREATE INDEX IF NOT EXISTS productinsight_timestamp ON product_insight ("timestamp");
CREATE INDEX IF NOT EXISTS productinsight_type ON product_insight (type);
CREATE INDEX IF NOT EXISTS productinsight_unique_scans_n ON product_insight (unique_scans_n);
CREATE INDEX IF NOT EXISTS productinsight_value ON product_insight (value);
CREATE INDEX IF NOT EXISTS productinsight_value_tag ON product_insight (value_tag);
CREATE INDEX IF NOT EXISTS product_insight_lc ON product_insight USING gin (lc);
CREATE INDEX IF NOT EXISTS product_insight_with_image ON product_insight (with_image);

CREATE INDEX IF NOT EXISTS prediction_barcode ON prediction (barcode);
CREATE INDEX IF NOT EXISTS prediction_server_type ON prediction (server_type);
CREATE INDEX IF NOT EXISTS prediction_timestamp ON prediction ("timestamp");
CREATE INDEX IF NOT EXISTS prediction_type ON prediction (type);

CREATE INDEX IF NOT EXISTS annotationvote_device_id ON annotation_vote (device_id);
CREATE INDEX IF NOT EXISTS annotationvote_insight_id ON annotation_vote (insight_id);
CREATE INDEX IF NOT EXISTS annotationvote_username ON annotation_vote (username);

CREATE INDEX IF NOT EXISTS imagemodel_barcode ON image (barcode);
CREATE INDEX IF NOT EXISTS imagemodel_deleted ON image (deleted);
CREATE INDEX IF NOT EXISTS imagemodel_fingerprint ON image (fingerprint);
CREATE INDEX IF NOT EXISTS imagemodel_image_id ON image (image_id);
CREATE INDEX IF NOT EXISTS imagemodel_server_type ON image (server_type);
CREATE INDEX IF NOT EXISTS imagemodel_source_image ON image (source_image);
CREATE INDEX IF NOT EXISTS imagemodel_uploaded_at ON image (uploaded_at);

CREATE INDEX IF NOT EXISTS imageprediction_image_id ON image_prediction (image_id);
CREATE INDEX IF NOT EXISTS imageprediction_model_name ON image_prediction (model_name);
CREATE INDEX IF NOT EXISTS imageprediction_model_version ON image_prediction (model_version);

CREATE INDEX IF NOT EXISTS logoannotation_annotation_type ON logo_annotation (annotation_type);
CREATE INDEX IF NOT EXISTS logoannotation_annotation_value ON logo_annotation (annotation_value);
CREATE INDEX IF NOT EXISTS logoannotation_annotation_value_tag ON logo_annotation (annotation_value_tag);
CREATE INDEX IF NOT EXISTS logoannotation_barcode ON logo_annotation (barcode);
CREATE INDEX IF NOT EXISTS logoannotation_completed_at ON logo_annotation (completed_at);
CREATE INDEX IF NOT EXISTS logoannotation_image_prediction_id ON logo_annotation (image_prediction_id);
CREATE INDEX IF NOT EXISTS logoannotation_source_image ON logo_annotation (source_image);
CREATE INDEX IF NOT EXISTS logoannotation_taxonomy_value ON logo_annotation (taxonomy_value);
CREATE INDEX IF NOT EXISTS logoannotation_username ON logo_annotation (username);
CREATE INDEX IF NOT EXISTS logo_annotation_server_type ON logo_annotation (server_type);
