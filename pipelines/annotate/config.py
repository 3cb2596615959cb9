"""Settings of the write-back to Product Opener, read from the environment (docs/annotate.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipelines.annotate.errors import CredentialsMissingError

DEFAULT_TIMEOUT_S = 15  # Robotoff's timeout for product_jqm2.pl (robotoff/off.py, update_product)


@dataclass(frozen=True)
class Credentials:
    """Product Opener's ``user_id`` and ``password``: from ``OFF_USER`` / ``OFF_PASSWORD`` only; the password
    never appears in a repr, a log line or an error."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ
        user, password = env.get("OFF_USER", "").strip(), env.get("OFF_PASSWORD", "")
        if not user or not password:
            raise CredentialsMissingError(
                "writing to Product Opener needs OFF_USER and OFF_PASSWORD (the account that makes the edits)"
            )
        return cls(user, password)

    def __str__(self) -> str:
        return f"{self.user} (password ***)"
