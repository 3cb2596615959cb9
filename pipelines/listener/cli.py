"""``offpipe listen``: run the listener in this process, or print the group's status."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from pipelines.listener.loop import Dispatcher

T = TypeVar("T")


def listen_command(deployment_dispatcher: Callable[[str], Dispatcher]) -> Callable[..., None]:
    """The ``offpipe listen`` command. ``deployment_dispatcher(name)`` hands each batch to the Prefect
    deployment ``name`` (``OFF_LISTENER_DISPATCH=deployment``): the root CLI passes it in, since the listener
    runs without Prefect and never imports ``flows`` (docs/listener.md)."""

    def listen(
        status: bool = typer.Option(
            False, "--status", help="Print lag, pending, processed, skipped, dead-lettered."
        ),
        consumer: str | None = typer.Option(
            None,
            "--consumer",
            help="Consumer name in the group (default: OFF_LISTENER_CONSUMER, else <host>-<slot>).",
        ),
        slot: int = typer.Option(
            0,
            "--slot",
            min=0,
            help="Slot of this listener on its host, for the default name <host>-<slot>: one per listener.",
        ),
        delay: float | None = typer.Option(
            None, "--delay", min=0.0, help="Coalescing delay in seconds (default: OFF_LISTENER_DELAY_S)."
        ),
        claim_idle: float = typer.Option(
            60.0,
            "--claim-idle",
            min=0.01,
            help="Seconds after which another consumer's pending entries are redone.",
        ),
        startup_timeout: float = typer.Option(
            60.0,
            "--startup-timeout",
            min=0.0,
            help="Seconds to wait for Redis at startup before giving up (exit 1).",
        ),
    ) -> None:
        """Listen to Product Opener's Redis streams, applying each product's events with the nightly steps.

        Runs until SIGTERM or Ctrl-C: the batch in hand is finished; events read but not yet applied stay
        pending in the consumer group and are redone by the next listener. At startup the store, Redis and the
        product sources are checked: a problem it cannot run with ends it with one line and exit code 1.
        """
        import redis

        from pipelines.common.config import get_settings
        from pipelines.listener import health, stream
        from pipelines.listener.loop import Listener, LoopOptions, listener_stats

        settings = get_settings()
        client = redis.Redis.from_url(settings.redis_url)
        group = settings.listener_group
        streams = [*settings.redis_streams, settings.ocr_stream]
        if status:
            try:
                out = {
                    "group": group,
                    "streams": [vars(stream.group_status(client, name, group)) for name in streams],
                    "counters": listener_stats(client, group),
                }
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                typer.echo(f"error: Redis at {health.redis_address(client)}: {exc}", err=True)
                raise typer.Exit(1) from exc
            typer.echo(json.dumps(out, indent=2))
            return
        in_process = settings.listener_dispatch != "deployment"
        warnings = _startup_check(lambda: health.check_store(settings)) if in_process else []
        from pipelines.insights.refresh import TAXONOMIES
        from pipelines.listener.dispatch import process_units
        from pipelines.listener.sources import product_source
        from pipelines.predictors.resources import MissingResourceError, default_resources
        from pipelines.predictors.rules.nutriscore import NutriscoreDetector, NutriscoreModelError

        resources = default_resources()
        detector = None
        try:  # fail now, naming what is missing, rather than on every batch
            resources.preload(TAXONOMIES)
            if settings.nutriscore_model is not None:
                detector = NutriscoreDetector(
                    settings.nutriscore_model, version=settings.nutriscore_model_version
                ).load()
        except (MissingResourceError, NutriscoreModelError) as exc:
            typer.echo(f"cannot listen: {exc}", err=True)
            raise typer.Exit(2) from exc
        try:
            source = product_source(settings, lookup=True)
        except ValueError as exc:
            typer.echo(f"cannot listen: {exc}", err=True)
            raise typer.Exit(2) from exc
        if in_process:  # the deployment's workers read the products, maybe elsewhere
            warnings += _startup_check(lambda: health.check_sources(settings, source))
        _startup_check(lambda: health.wait_for_redis(client, startup_timeout))
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        if detector is None:
            typer.echo("Nutri-Score detector off (OFF_NUTRISCORE_MODEL is not set)", err=True)
        from pipelines.listener.consumer import ConsumerNameError, check_name, default_consumer

        try:  # stable across restarts, so a restarted listener finds its own pending entries at once
            name = check_name(consumer or settings.listener_consumer or default_consumer(slot))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--consumer / OFF_LISTENER_CONSUMER") from exc
        options = LoopOptions(
            delay_s=settings.listener_delay_s if delay is None else delay,
            claim_idle_ms=int(claim_idle * 1000),
            reclaim_every_s=min(30.0, claim_idle),
            forget_idle_ms=int(max(10 * claim_idle, 3600.0) * 1000),  # well beyond any reclaim
        )
        writer = None
        if settings.listener_dispatch == "deployment":
            dispatch = deployment_dispatcher(settings.listener_deployment)
            typer.echo(
                f"dispatching batches to the Prefect deployment {settings.listener_deployment}", err=True
            )
        else:
            from pipelines.store.session import kept_store

            writer = kept_store(settings=settings)  # open between batches; let go when anyone else waits

            def dispatch(units):
                return process_units(
                    units,
                    settings=settings,
                    resources=resources,
                    detector=detector,
                    source=source,
                    writer=writer,
                )

        listener = Listener(
            client=client,
            settings=settings,
            dispatch=dispatch,
            consumer=name,
            options=options,
            idle=writer.tick if writer is not None else None,
        )
        signal.signal(signal.SIGTERM, lambda *_: listener.stop())
        status_code = 0
        try:
            listener.claim_name()  # one live process per name
            typer.echo(f"listening to {', '.join(streams)} as {listener.consumer} in group {group}", err=True)
            listener.run()
        except KeyboardInterrupt:
            listener.stop()
        except ConsumerNameError as exc:
            typer.echo(f"cannot listen: {exc}", err=True)
            status_code = 2
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # lost while creating the groups
            typer.echo(f"cannot listen: Redis at {health.redis_address(client)}: {exc}", err=True)
            status_code = 1
        finally:
            listener.release_name()
            if writer is not None:
                writer.close()
        sys.exit(status_code)

    return listen


def _startup_check(check: Callable[[], T]) -> T:
    """Run one startup check; a :class:`~pipelines.listener.health.StartupError` ends the command with its
    one line and exit code 1."""
    from pipelines.listener.health import StartupError

    try:
        return check()
    except StartupError as exc:
        typer.echo(f"cannot listen: {exc}", err=True)
        raise typer.Exit(1) from exc
