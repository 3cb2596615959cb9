"""Audits of a Parquet snapshot (``barcodes``: Product Opener's barcode migration, product by product)."""
