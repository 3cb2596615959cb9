"""The prediction store: a DuckDB file, ``$OFF_DATA_DIR/store.duckdb``, with Robotoff's ``prediction`` table.

- ``db``: opening the store (``open_store``, ``store_writer``), its schema, the locked ``write_transaction``;
- ``lock``: the single-writer lock (``<store>.lock``);
- ``schema``: the prediction table every predictor returns and the import takes (``PREDICTION_SCHEMA``);
- ``predictions``: the set-based import of spec §4.1 (``import_predictions``) and the listener's deletions;
- ``export``: Parquet / JSON-lines exports (``export_predictions``).

See ``docs/store.md`` for the table and the exact import semantics. (Nothing is imported here so that the
CLI stays fast to start.)
"""
