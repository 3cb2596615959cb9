-- MODEL: image
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- The images uploaded to products, as the listener learns of them.
--
-- The images uploaded to products, as the listener learns of them (Robotoff's `image` table): one row per
-- (barcode, server type, image id), its path below /images/products, its size and upload time when the
-- product's data gives them (the event's time otherwise; unknown for an image only seen deleted), and
-- whether it was deleted. Product Opener never reuses an image id, so a deletion is final.
CREATE TABLE IF NOT EXISTS image (
    barcode VARCHAR NOT NULL,
    server_type VARCHAR NOT NULL,
    image_id VARCHAR NOT NULL,
    source_image VARCHAR NOT NULL,
    width INTEGER,
    height INTEGER,
    uploaded_at TIMESTAMPTZ,
    deleted BOOLEAN NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (barcode, server_type, image_id)
);
