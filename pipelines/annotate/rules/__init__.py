"""What to send to Product Opener for an annotated insight: one module per insight type.

Each module names its insight ``TYPE``, the product ``FIELDS`` its check reads, and ``decide(insight,
product)``: a :class:`Write` (the call Robotoff makes for the type) or :class:`Done` (nothing to send: the
product already holds the value). The product is its *current* state — a row of the configured product
source (``pipelines.listener.sources``) — never the nightly snapshot in production (docs/annotate.md). The
table of calls is Robotoff's (release 1.85.10, ``robotoff/insights/annotate.py``, ``robotoff/off.py``).
"""
