"""Data-quality facets written into Product Opener's MongoDB: Robotoff's removed fiber facet job, set-based.

Robotoff's nightly ``generate_fiber_quality_facet`` (``robotoff/scheduler/latent.py``, removed in February
2026 with the nutrition schema migration, Robotoff commit 6119b8c1) walked the ``nutrient_mention``
predictions one by one, fetched each product from MongoDB and
``$push``-ed ``en:missing-nutrition-facts-fibers-present-on-photos`` (and ``…-on-nutrition-photos``) into
``data_quality_tags`` and ``data_quality_warnings_tags`` when a photo mentions fibers but the product has no
fiber value. Here the same rule runs in three steps (``docs/facets.md``):

1. ``plan.py``: one DuckDB query (``sql/facets/fiber_facet_plan.sql``) over the prediction store and the
   Parquet snapshot gives every product whose facets must change, with the facets to add and to remove: a
   facet that no longer applies is taken away, which Robotoff never did.
2. ``report.py``: the plan as Parquet plus a markdown/JSON summary, always written (also in dry runs), so
   what a run would write can be reviewed before MongoDB is touched; and the run's report.
3. ``apply.py``: unordered ``bulk_write`` batches of ``$addToSet``/``$pull`` updates (idempotent, so a batch
   sent twice changes nothing the second time), with a checkpoint after each batch so a run that failed
   half-way resumes where it stopped.

``job.py`` runs the three for one flavor; ``flows/facets.py`` and ``offpipe facets`` (``cli.py``) call it.
Every ``code`` that reaches a MongoDB filter is checked to be a plain 4–24 digit string, whatever the plan
file says: a filter value that is not a string (an operator document) or not a barcode never leaves this
package.
"""
