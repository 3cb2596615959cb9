"""Prefect flows and deployments: thin wrappers that call ``pipelines`` (stages land with their issues)."""
