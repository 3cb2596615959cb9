"""Annotation and write-back to Product Opener (issue 23; docs/annotate.md).

An annotated insight (``annotation = 1``), by an operator or by the automatic processing of due insights, is
applied to the product on Product Opener with the call Robotoff makes for its type (release 1.85.10,
``robotoff/insights/annotate.py`` and ``robotoff/off.py``). This package decides that call — or that there is
nothing to send, the product already holding the value — from the product's current state
(:mod:`pipelines.annotate.rules`, one module per insight type) and sends it
(:mod:`pipelines.annotate.writer`).
"""
