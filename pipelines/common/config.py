"""All configuration of the pipeline, read from the environment in one place.

Why one module: every setting has a documented default here (and in ``docs/configuration.md``, which a test
keeps in sync), and nothing else in the code base reads ``os.environ``. Settings are read when
:func:`get_settings` is called, never at import time, so tests and CLI options can change the environment
before a run starts.

Later stages add their settings to :class:`Settings` with the ``OFF_`` prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from openfoodfacts.types import Environment as SdkEnvironment
from openfoodfacts.types import Flavor as SdkFlavor
from openfoodfacts.utils import URLBuilder

from pipelines.common.errors import OffpipeError

E = TypeVar("E", bound=StrEnum)


class ConfigError(OffpipeError, ValueError):
    """A setting has a value the pipeline cannot use."""


class Flavor(StrEnum):
    """Product Opener instances. ``off_pro`` is the producers' platform (private products, owner folders)."""

    off = "off"
    obf = "obf"
    opff = "opff"
    opf = "opf"
    off_pro = "off_pro"

    @property
    def sdk(self) -> SdkFlavor:
        """The SDK's flavor enum (the SDK spells the pro platform ``off-pro``)."""
        return SdkFlavor[self.value]

    @property
    def product_type(self) -> str:
        """Product Opener's ``product_type`` for products of this flavor."""
        return FLAVOR_PRODUCT_TYPES[self]


FLAVOR_PRODUCT_TYPES: dict[Flavor, str] = {
    Flavor.off: "food",
    Flavor.obf: "beauty",
    Flavor.opff: "petfood",
    Flavor.opf: "product",
    Flavor.off_pro: "food",
}

# Robotoff maps an event's product_type to a server type this way (``robotoff/workers/update_listener.py``).
PRODUCT_TYPE_FLAVORS: dict[str, Flavor] = {
    "food": Flavor.off,
    "beauty": Flavor.obf,
    "petfood": Flavor.opff,
    "product": Flavor.opf,
}

# Dump file names on each flavor's static server.
DUMP_FILE_NAMES: dict[Flavor, str] = {
    Flavor.off: "openfoodfacts-products.jsonl.gz",
    Flavor.obf: "openbeautyfacts-products.jsonl.gz",
    Flavor.opff: "openpetfoodfacts-products.jsonl.gz",
    Flavor.opf: "openproductsfacts-products.jsonl.gz",
}


# Minimum number of lines a downloaded dump must have before it replaces the previous one. OFF's floor is
# Robotoff's DATASET_CHECK_MIN_PRODUCT_COUNT; the others are set well below each flavor's size (2026: obf
# ~60k, opff ~15k, opf ~20k products) to catch truncated files. 0 disables the check (tests).
DEFAULT_DUMP_MIN_LINES: dict[Flavor, int] = {
    Flavor.off: 2_800_000,
    Flavor.obf: 20_000,
    Flavor.opff: 5_000,
    Flavor.opf: 5_000,
}
# A converted snapshot with fewer rows than this fraction of the installed one is refused (--force accepts
# it): a dump does not lose a tenth of its products overnight, a bad input does. 0 disables the check.
DEFAULT_SNAPSHOT_MIN_RATIO = 0.9


# Reference data the pipeline downloads at run time (pipelines/reference). Robotoff reads the taxonomies from
# the OFF static server and keeps its keyword lists and grammars in its repository's data/ folder; the
# repository stores its .gz files in Git LFS, whose content only the media host serves (raw.githubusercontent
# answers with the LFS pointer).
DEFAULT_TAXONOMY_URL = "https://static.openfoodfacts.org/data/taxonomies"
# Open Food Facts' images and OCR JSON on AWS open data (anonymous HTTPS; docs/ocr.md, "The images bucket").
DEFAULT_OCR_BUCKET_URL = "https://openfoodfacts-images.s3.eu-west-3.amazonaws.com"
DEFAULT_ROBOTOFF_REF = "main"
# Redis streams Product Opener publishes on: the seed's name, then Product Opener's current one.
DEFAULT_REDIS_STREAMS = ("product_updates_off", "product_updates")
DEFAULT_OCR_STREAM = "ocr_ready"
DEFAULT_LISTENER_GROUP = "offpipe"
DEFAULT_LISTENER_DELAY_S = 2.0  # Product Opener may publish before it has saved the product
DEFAULT_LISTENER_SKIP_USERS = ("roboto-app",)  # Robotoff's own edits
# Product Opener's MongoDB names (the facet writer's target); configurable for staging copies and tests.
DEFAULT_MONGO_DB = "off"
DEFAULT_MONGO_COLLECTION = "products"
ROBOTOFF_DATA_URL_TEMPLATE = "https://raw.githubusercontent.com/openfoodfacts/robotoff/{ref}/data"
ROBOTOFF_MEDIA_URL_TEMPLATE = "https://media.githubusercontent.com/media/openfoodfacts/robotoff/{ref}/data"


class Environment(StrEnum):
    """Product Opener environments: ``org`` is production, ``net`` is staging."""

    org = "org"
    net = "net"


@dataclass(frozen=True)
class FlavorUrls:
    """Base URLs of one flavor's Product Opener servers (no trailing slash)."""

    world: str
    static: str
    images: str

    @property
    def dump_url_base(self) -> str:
        """Folder of the JSONL dumps on the static server."""
        return f"{self.static}/data"


DEFAULT_NUTRISCORE_MODEL_VERSION = "yolo-nutriscore-1.0"  # Robotoff's model version (predictor_version)


@dataclass(frozen=True)
class Settings:
    """The pipeline's settings. Build with :meth:`from_env` (or :func:`get_settings`)."""

    data_dir: Path
    redis_url: str
    mongo_uri: str | None
    environment: Environment
    taxonomy_dir: Path
    keywords_dir: Path
    grammars_dir: Path
    taxonomy_url: str = DEFAULT_TAXONOMY_URL
    robotoff_data_url: str = ROBOTOFF_DATA_URL_TEMPLATE.format(ref=DEFAULT_ROBOTOFF_REF)
    robotoff_media_url: str = ROBOTOFF_MEDIA_URL_TEMPLATE.format(ref=DEFAULT_ROBOTOFF_REF)
    urls: Mapping[Flavor, FlavorUrls] = field(default_factory=dict)
    dump_min_lines: Mapping[Flavor, int] = field(default_factory=dict)
    snapshot_min_ratio: float = DEFAULT_SNAPSHOT_MIN_RATIO
    mongo_db: str = DEFAULT_MONGO_DB
    mongo_collection: str = DEFAULT_MONGO_COLLECTION
    redis_streams: tuple[str, ...] = DEFAULT_REDIS_STREAMS
    ocr_stream: str = DEFAULT_OCR_STREAM
    listener_group: str = DEFAULT_LISTENER_GROUP
    listener_delay_s: float = DEFAULT_LISTENER_DELAY_S
    listener_skip_users: tuple[str, ...] = DEFAULT_LISTENER_SKIP_USERS
    listener_consumer: str | None = None  # consumer name in the group; None: <host>-<slot> (offpipe listen)
    listener_dispatch: str = "process"  # or "deployment": batches become flow runs of listener_deployment
    listener_deployment: str = "per_product/per-product"
    product_sources: tuple[str, ...] = ("snapshot",)  # where the listener reads a product, in order
    nutriscore_model: Path | None = None  # ONNX Nutri-Score detector; None: the detector does not run
    nutriscore_model_version: str = DEFAULT_NUTRISCORE_MODEL_VERSION
    # The category classifier: "latest" (the model LATEST names under models/category, if any), "off", or
    # the path of a model folder (model.onnx, labels.json[, card.json]).
    category_model: str = "latest"
    # The store: None (the DuckDB file $OFF_DATA_DIR/store.duckdb), a path, or postgresql://… (docs/store.md).
    store_url: str | None = None
    # The Product Opener account the project's write-back edits are made as (OFF_USER; its password is read
    # only when a write is made, pipelines/annotate/config.py): the listener skips that account's events.
    write_user: str | None = None
    # What `offpipe insights apply` and the apply_insights flow do with due insights: "plan" (write the calls
    # they would make, send nothing) or "apply" (send them); docs/annotate.md.
    apply_mode: str = "plan"
    ocr_bucket_url: str = DEFAULT_OCR_BUCKET_URL  # OFF's images bucket (keys under /data/)
    # The OCR the scheduled off nightly predicts from: "bucket", a dataset folder or table; None: none.
    nightly_ocr: str | None = None
    # OFF_DASK_ADDRESS: the Dask scheduler the OCR pass's shards run on (docs/scale-out.md); unset: a
    # LocalCluster when --workers is given, else this process
    dask_address: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        data_dir = _data_dir(env)
        environment = _enum_setting(env, "OFF_ENVIRONMENT", Environment, Environment.org)
        robotoff_ref = env.get("OFF_ROBOTOFF_REF") or DEFAULT_ROBOTOFF_REF
        keywords_dir = _path_setting(env, "OFF_KEYWORDS_DIR", data_dir / "ocr-keywords")
        return cls(
            data_dir=data_dir,
            redis_url=env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            mongo_uri=env.get("MONGO_URI") or None,
            mongo_db=env.get("MONGO_DB") or DEFAULT_MONGO_DB,
            mongo_collection=env.get("MONGO_COLLECTION") or DEFAULT_MONGO_COLLECTION,
            redis_streams=_list_setting(env, "OFF_REDIS_STREAMS", DEFAULT_REDIS_STREAMS),
            ocr_stream=env.get("OFF_OCR_STREAM") or DEFAULT_OCR_STREAM,
            listener_group=env.get("OFF_LISTENER_GROUP") or DEFAULT_LISTENER_GROUP,
            listener_delay_s=_float_setting(env, "OFF_LISTENER_DELAY_S", DEFAULT_LISTENER_DELAY_S),
            listener_skip_users=_list_setting(env, "OFF_LISTENER_SKIP_USERS", DEFAULT_LISTENER_SKIP_USERS),
            listener_consumer=(env.get("OFF_LISTENER_CONSUMER") or "").strip() or None,
            listener_dispatch=_choice_setting(
                env, "OFF_LISTENER_DISPATCH", ("process", "deployment"), "process"
            ),
            listener_deployment=env.get("OFF_LISTENER_DEPLOYMENT") or "per_product/per-product",
            product_sources=_list_setting(
                env, "OFF_PRODUCT_SOURCES", ("mongo", "snapshot") if env.get("MONGO_URI") else ("snapshot",)
            ),
            nutriscore_model=(
                Path(env["OFF_NUTRISCORE_MODEL"]).expanduser().resolve()
                if env.get("OFF_NUTRISCORE_MODEL")
                else None
            ),
            nutriscore_model_version=(
                env.get("OFF_NUTRISCORE_MODEL_VERSION") or DEFAULT_NUTRISCORE_MODEL_VERSION
            ),
            category_model=env.get("OFF_CATEGORY_MODEL") or "latest",
            environment=environment,
            taxonomy_dir=_path_setting(env, "OFF_TAXONOMY_DIR", data_dir / "taxonomies"),
            keywords_dir=keywords_dir,
            # Beside the keyword lists, as in Robotoff's data/ (and ../shared/data): $OFF_DATA_DIR/grammars by
            # default, and a checkout's grammars when only OFF_KEYWORDS_DIR points at its lists.
            grammars_dir=_path_setting(env, "OFF_GRAMMARS_DIR", keywords_dir.parent / "grammars"),
            taxonomy_url=_url_setting(env, "OFF_TAXONOMY_URL", DEFAULT_TAXONOMY_URL),
            robotoff_data_url=_url_setting(
                env, "OFF_ROBOTOFF_DATA_URL", ROBOTOFF_DATA_URL_TEMPLATE.format(ref=robotoff_ref)
            ),
            robotoff_media_url=_url_setting(
                env, "OFF_ROBOTOFF_MEDIA_URL", ROBOTOFF_MEDIA_URL_TEMPLATE.format(ref=robotoff_ref)
            ),
            urls={flavor: _flavor_urls(env, flavor, environment) for flavor in Flavor},
            dump_min_lines={
                flavor: _int_setting(env, f"OFF_DUMP_MIN_LINES_{flavor.value.upper()}", default)
                for flavor, default in DEFAULT_DUMP_MIN_LINES.items()
            },
            snapshot_min_ratio=_ratio_setting(env, "OFF_SNAPSHOT_MIN_RATIO", DEFAULT_SNAPSHOT_MIN_RATIO),
            store_url=(env.get("OFF_STORE_URL") or "").strip() or None,
            write_user=(env.get("OFF_USER") or "").strip() or None,
            apply_mode=_choice_setting(env, "OFF_APPLY_MODE", ("plan", "apply"), "plan"),
            ocr_bucket_url=_url_setting(env, "OFF_OCR_BUCKET_URL", DEFAULT_OCR_BUCKET_URL),
            nightly_ocr=(env.get("OFF_NIGHTLY_OCR") or "").strip() or None,
            dask_address=(env.get("OFF_DASK_ADDRESS") or "").strip() or None,
        )

    @property
    def store_path(self) -> Path:
        """The DuckDB store (predictions, insights, runs); its writer lock is ``<store>.lock`` beside it.

        ``OFF_STORE_URL`` set to a path moves it; set to ``postgresql://…`` the store is PostgreSQL
        (:func:`pipelines.store.target.store_target`) and this file is not used."""
        if self.store_url and "://" not in self.store_url:
            return Path(self.store_url).expanduser().resolve()
        return self.data_dir / "store.duckdb"

    @property
    def category_models_dir(self) -> Path:
        """Where ``offpipe category train`` writes its model versions (and ``LATEST``)."""
        return self.data_dir / "models" / "category"

    def category_model_dir(self) -> Path | None:
        """The category model folder to use, or None (``OFF_CATEGORY_MODEL=off``, or no model trained yet)."""
        choice = self.category_model.strip()
        if choice.lower() == "off":
            return None
        if choice.lower() == "latest":
            root = self.category_models_dir
            try:
                version = (root / "LATEST").read_text().strip()
            except FileNotFoundError:
                return None
            folder = root / version
            return folder if version and "/" not in version and folder.is_dir() else None
        return Path(choice).expanduser().resolve()

    def dump_dir(self, flavor: Flavor | str) -> Path:
        """Folder of a flavor's downloaded dump and its sidecar metadata."""
        return self.data_dir / "dumps" / Flavor(flavor).value

    def parquet_dir(self, flavor: Flavor | str) -> Path:
        """Folder of a flavor's Parquet snapshot (and its quarantine file and conversion report)."""
        return self.data_dir / "parquet" / Flavor(flavor).value

    def flavor_urls(self, flavor: Flavor | str) -> FlavorUrls:
        """Base URLs of ``flavor``."""
        return self.urls[Flavor(flavor)]

    def dump_url(self, flavor: Flavor | str) -> str:
        """URL of the daily JSONL dump of ``flavor`` (the pro platform has no public dump)."""
        flavor = Flavor(flavor)
        if flavor not in DUMP_FILE_NAMES:
            raise ConfigError(f"flavor {flavor} has no public dump")
        return f"{self.flavor_urls(flavor).dump_url_base}/{DUMP_FILE_NAMES[flavor]}"


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Current settings, read now from the environment."""
    return Settings.from_env(environ)


def _data_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("OFF_DATA_DIR") or "./data").expanduser().resolve()


# Third-party libraries that would write outside $OFF_DATA_DIR (and the system temp folder) are told not to,
# through the environment, before they are imported: the one place that sets environment variables.


def disable_onnxruntime_telemetry() -> None:
    """Before onnxruntime is imported: its telemetry off (``ORT_DISABLE_TELEMETRY=1``).

    onnxruntime (1.2x+ on Linux) starts a telemetry client at import that writes a device id and a SQLite
    file under ``$XDG_CACHE_HOME`` or ``$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime``, creating
    ``$HOME`` if it is missing; with the variable set it writes nothing (``docs/configuration.md``).
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"


def default_prefect_home() -> Path:
    """Before Prefect is imported (``flows/``): ``PREFECT_HOME`` defaults to ``$OFF_DATA_DIR/prefect``
    instead of ``~/.prefect``, which Prefect creates at import; an explicit ``PREFECT_HOME`` is kept."""
    home = os.environ.get("PREFECT_HOME") or str(_data_dir(os.environ) / "prefect")
    os.environ["PREFECT_HOME"] = home
    return Path(home)


def _path_setting(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name)
    return Path(value).expanduser().resolve() if value else default


def _url_setting(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) base URL, without its trailing slash (callers append ``/<file>``)."""
    value = (env.get(name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL")
    return value


def _list_setting(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list (blank items dropped); the default when unset or empty."""
    value = env.get(name)
    items = tuple(item.strip() for item in (value or "").split(",") if item.strip())
    return items or default


def _float_setting(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if not number >= 0:  # also refuses NaN
        raise ConfigError(f"{name} cannot be negative")
    return number


def _ratio_setting(env: Mapping[str, str], name: str, default: float) -> float:
    """A fraction between 0 and 1."""
    number = _float_setting(env, name, default)
    if number > 1:
        raise ConfigError(f"{name} must be between 0 and 1")
    return number


def _int_setting(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an integer") from None
    if number < 0:
        raise ConfigError(f"{name} cannot be negative")
    return number


def _enum_setting(env: Mapping[str, str], name: str, kind: type[E], default: E) -> E:
    value = env.get(name)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ConfigError(f"{name}={value!r} is not one of: {allowed}") from None


def _choice_setting(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(choices)}")
    return value


def _flavor_urls(env: Mapping[str, str], flavor: Flavor, environment: Environment) -> FlavorUrls:
    """Default URLs come from the SDK's URL builder; each can be overridden per flavor.

    Overrides (``OFF_WORLD_URL_OBF``, ``OFF_STATIC_URL_OFF``, ``OFF_IMAGES_URL_OFF``…) let tests point the
    pipeline at a local HTTP server and let operators use a mirror.
    """
    sdk_env = SdkEnvironment[environment.value]
    defaults = {
        "world": URLBuilder.world(flavor.sdk, sdk_env),
        "static": URLBuilder.static(flavor.sdk, sdk_env),
        "images": URLBuilder._get_url(  # the SDK builds image URLs only with a path; we want the base
            base_domain=flavor.sdk.get_base_domain(), prefix="images", tld=sdk_env.value
        ),
    }
    values = {}
    for kind, default in defaults.items():
        override = env.get(f"OFF_{kind.upper()}_URL_{flavor.value.upper()}")
        value = (override or default).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f"OFF_{kind.upper()}_URL_{flavor.value.upper()} must be an http(s) URL")
        values[kind] = value
    return FlavorUrls(**values)
