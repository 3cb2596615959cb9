"""The PostgreSQL store: Robotoff's tables (``prediction``, ``product_insight``, …) and the project's own
(schema ``offpipe``), written by applying the row sets the rules decided in DuckDB (docs/store.md).

- ``connection``: connecting from a URL, with one-line errors and the password masked;
- ``schema``: ``offpipe store init``: creating the tables when absent, checking an existing Robotoff database;
- ``mirror``: the tables a session reads and writes, and how each column crosses between the two databases;
- ``session``: read a scope's rows into a DuckDB working copy, let the rules run there, apply the difference.
"""
