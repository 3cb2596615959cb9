-- MODEL: taxonomy_node
-- KIND: TABLE
-- READS: -
-- PARAMS: -
-- Every node of every loaded taxonomy, as the SDK parses it.
--
-- Every node of every loaded taxonomy, as the SDK parses it (openfoodfacts.taxonomy.Taxonomy.from_dict).
-- `name`: the SDK's get_localized_name('en') (English name, else the international `xx` name, else the id);
-- `names`: {lang: name}; `properties`: every other key of the node but parents/children/synonyms (the SDK's
-- TaxonomyNode.properties, e.g. agribalyse_food_code for the category importer's campaign).
-- No primary key: the loader writes unique ids, and an ART index would only slow the bulk insert.
CREATE TABLE IF NOT EXISTS taxonomy_node (
    taxonomy VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    names JSON NOT NULL,
    properties JSON NOT NULL
);
