"""Dump acquisition: conditional, resumable, validated downloads of each flavor's JSONL dump.

``fetch.download_dump`` is the entry point; ``validate.validate_dump`` checks a file; ``meta`` keeps the
sidecar. (Nothing is imported here so that the CLI stays fast to start.)
"""
