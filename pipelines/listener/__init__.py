"""The Redis listener: Product Opener events in, per-product runs of the nightly functions out."""
