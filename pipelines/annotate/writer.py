"""Sends the decided calls to Product Opener with the official SDK (``openfoodfacts.API``).

The SDK builds the request as Robotoff does: the form fields, ``user_id`` and ``password`` added to them, the
User-Agent, and on the staging servers (``.net``) the basic auth ``off:off``. Its base URL is replaced by the
flavor's ``world`` URL of the settings (``OFF_WORLD_URL_<FLAVOR>`` overrides it: a mirror, or the tests'
Product Opener stand-in). What comes back becomes an :class:`~pipelines.annotate.results.Outcome`: Product
Opener's ``status_verbose == "fields saved"`` is success; a 5xx answer, a timeout or a lost connection is
transient (the insight stays unannotated, tried again at a later run); a 4xx answer, or a 200 saying
anything else, is a failure with its reason (docs/annotate.md, "Results").
"""

from __future__ import annotations

import logging

import openfoodfacts
import requests

from pipelines.annotate.base import Insight, Write
from pipelines.annotate.config import DEFAULT_TIMEOUT_S, Credentials
from pipelines.annotate.results import AnnotationStatus, Outcome
from pipelines.barcodes import strict_code
from pipelines.common.config import Flavor, Settings
from pipelines.common.http import EDIT_COMMENT_MARK, USER_AGENT

logger = logging.getLogger(__name__)

SAVED = "fields saved"


def comment(action: str, insight_id: str, *, automatic: bool) -> str:
    """The edit comment, as Robotoff writes its own (``generate_edit_comment``) under the project's name."""
    text = f"{EDIT_COMMENT_MARK} {action}, ID: {insight_id}"
    return text + " (automated edit)" if automatic else text


class ProductOpenerWriter:
    """Writes to one flavor's Product Opener as the account of ``credentials``."""

    def __init__(
        self,
        settings: Settings,
        flavor: Flavor | str,
        credentials: Credentials,
        *,
        timeout_s: int = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.flavor = Flavor(flavor)
        self._api = openfoodfacts.API(
            user_agent=USER_AGENT,
            username=credentials.user,
            password=credentials.password,
            flavor=self.flavor.sdk.name,
            environment=settings.environment.value,
            timeout=timeout_s,
        )
        self._api.product.base_url = settings.flavor_urls(self.flavor).world

    def send(self, insight: Insight, write: Write, *, automatic: bool) -> Outcome:
        """Send ``write`` for ``insight``'s product: the outcome (an answer or a network failure raises
        nothing)."""
        code = strict_code(insight.barcode)  # a stored code still reaches a request: checked
        body = {
            "code": code,
            **write.fields,
            "comment": comment(write.action, insight.id, automatic=automatic),
        }
        try:
            response = self._api.product.update(body)
        except requests.HTTPError as exc:
            return _http_error(exc)
        except (requests.ConnectionError, requests.Timeout) as exc:
            return Outcome(AnnotationStatus.error_failed_update, f"Product Opener unreachable: {exc}", True)
        return _answer(response)


def _http_error(exc: requests.HTTPError) -> Outcome:
    status = exc.response.status_code if exc.response is not None else 0
    detail = f"Product Opener answered HTTP {status}"
    return Outcome(AnnotationStatus.error_failed_update, detail, transient=status >= 500)


def _answer(response: requests.Response | None) -> Outcome:
    try:
        verbose = (response.json() or {}).get("status_verbose") if response is not None else None
    except ValueError:
        verbose = None
    if verbose == SAVED:
        return Outcome(AnnotationStatus.updated, "the annotation was saved and sent to Product Opener")
    detail = f"Product Opener did not save the fields: {verbose!r}"
    return Outcome(AnnotationStatus.error_failed_update, detail)
