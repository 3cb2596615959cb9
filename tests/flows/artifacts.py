"""Reading artifacts back through the Prefect API the flow tests run against."""

from __future__ import annotations

import asyncio


def artifact(key: str) -> list:
    """Every artifact published under ``key`` (oldest first as the API returns them)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )

    return asyncio.run(read())
