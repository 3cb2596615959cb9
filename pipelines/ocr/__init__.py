"""OCR text ingestion: Google Cloud Vision JSON (an archive, or one image's URL) → the OCR text table.

``schema.py`` declares the table, ``rows.py`` builds one row through the SDK's parser, ``ingest.py`` streams
an archive through a process pool into Parquet, ``fetch.py`` builds the same row for one image fetched from
the image server. See ``docs/ocr.md``.
"""
