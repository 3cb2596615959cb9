"""Prefect flows and deployments: thin wrappers that call ``pipelines`` (stages land with their issues).

Prefect creates its home folder (``PREFECT_HOME``, default ``~/.prefect``) when it is imported; this package
is the only one that imports it, so it first points ``PREFECT_HOME`` at ``$OFF_DATA_DIR/prefect`` unless the
operator set it (``docs/nightly.md``): nothing is written outside ``$OFF_DATA_DIR``.
"""

from pipelines.common.config import default_prefect_home

default_prefect_home()
