-- MODEL: migratehistory
-- KIND: INSERT
-- READS: migratehistory
-- PARAMS: -
-- Records Robotoff's migrations 001 to 009 as applied, on a database offpipe has just created.
--
-- postgres/robotoff_schema creates what Robotoff 1.85.10's migrations would; recording them in
-- peewee-migrate's ledger (by file name, without `.py`, time in UTC like peewee-migrate's own) lets
-- Robotoff's `migrate-db` later apply only its newer migrations. `offpipe store init` runs this only when
-- it created `product_insight` itself, never on an existing Robotoff database; a name already recorded is
-- left as it is.
INSERT INTO migratehistory (name, migrated_at)
SELECT m.name, now() AT TIME ZONE 'utc'
FROM (
    VALUES
        (1, '001_initial'),
        (2, '002_add_bounding_box'),
        (3, '003_add_logo_text_field'),
        (4, '004_drop_indices'),
        (5, '005_drop_other_indices'),
        (6, '006_add_logo_annotation_server_type'),
        (7, '007_add_logo_annotation_server_type_index'),
        (8, '008_add_insight_lc'),
        (9, '009_add_insight_with_image')
) AS m (position, name)
WHERE NOT EXISTS (SELECT 1 FROM migratehistory AS h WHERE h.name = m.name)
ORDER BY m.position;
