"""Settings: documented defaults, overrides, errors, and docs/configuration.md kept in sync."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.common.config import ConfigError, Environment, Flavor, get_settings

REPO = Path(__file__).resolve().parents[3]


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = get_settings({})
    assert settings.data_dir == tmp_path / "data"
    assert settings.taxonomy_dir == tmp_path / "data" / "taxonomies"
    assert settings.mongo_uri is None
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.environment is Environment.org
    assert settings.dump_url("off") == "https://static.openfoodfacts.org/data/openfoodfacts-products.jsonl.gz"
    assert settings.dump_url("opff").startswith("https://static.openpetfoodfacts.org/data/")
    assert settings.flavor_urls(Flavor.off_pro).images == "https://images.pro.openfoodfacts.org"


def test_overrides(tmp_path: Path) -> None:
    settings = get_settings(
        {
            "OFF_DATA_DIR": str(tmp_path),
            "OFF_ENVIRONMENT": "net",
            "OFF_STATIC_URL_OFF": "http://127.0.0.1:9000/",
            "MONGO_URI": "mongodb://localhost",
            "OFF_REDIS_STREAMS": " product_updates_obf, ,product_updates ",
            "OFF_LISTENER_DELAY_S": "0.5",
            "OFF_LISTENER_SKIP_USERS": "roboto-app,my-bot",
        }
    )
    assert settings.data_dir == tmp_path
    assert settings.redis_streams == ("product_updates_obf", "product_updates")
    assert settings.listener_delay_s == 0.5
    assert settings.listener_skip_users == ("roboto-app", "my-bot")
    assert (settings.ocr_stream, settings.listener_group) == ("ocr_ready", "offpipe")
    assert settings.mongo_uri == "mongodb://localhost"
    assert settings.dump_url("off") == "http://127.0.0.1:9000/data/openfoodfacts-products.jsonl.gz"
    assert settings.flavor_urls("obf").world == "https://world.openbeautyfacts.net"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OFF_ENVIRONMENT": "prod"}, "OFF_ENVIRONMENT"),
        ({"OFF_IMAGES_URL_OFF": "ftp://x"}, "OFF_IMAGES_URL_OFF"),
        ({"OFF_LISTENER_DELAY_S": "soon"}, "OFF_LISTENER_DELAY_S"),
        ({"OFF_LISTENER_DELAY_S": "-1"}, "OFF_LISTENER_DELAY_S"),
        ({"OFF_LISTENER_DELAY_S": "nan"}, "OFF_LISTENER_DELAY_S"),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_settings(env)


def test_pro_platform_has_no_public_dump() -> None:
    with pytest.raises(ConfigError):
        get_settings({}).dump_url("off_pro")


def test_every_setting_is_documented() -> None:
    source = (REPO / "pipelines" / "common" / "config.py").read_text()
    names = set(re.findall(r'"((?:OFF|REDIS|MONGO)_[A-Z_]+)"', source))
    names |= {f"OFF_{kind}_URL_<FLAVOR>" for kind in ("WORLD", "STATIC", "IMAGES")} | {
        "OFF_DUMP_MIN_LINES_<FLAVOR>"
    }
    doc = (REPO / "docs" / "configuration.md").read_text()
    missing = sorted(n for n in names if n not in doc and not n.endswith("_URL_"))
    assert missing == []
    assert {"OFF_DATA_DIR", "REDIS_URL", "MONGO_URI", "OFF_ENVIRONMENT"} <= names


def test_only_config_reads_the_environment() -> None:
    """Configuration is read in one place (and the SQL folder override in pipelines/common/sql.py)."""
    offenders = []
    for path in (REPO / "pipelines").rglob("*.py"):
        if path.name in {"config.py", "sql.py"}:
            continue
        if re.search(r"os\.environ|os\.getenv", path.read_text()):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
