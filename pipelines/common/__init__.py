"""Shared plumbing every stage uses: settings, SQL loading, logging, HTTP, files, errors."""
