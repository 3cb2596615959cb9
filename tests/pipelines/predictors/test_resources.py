"""Resources.preload: everything a long-running consumer needs is parsed up front, or every gap is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.insights.refresh import TAXONOMIES
from pipelines.predictors.resources import MissingResourceError, Resources


def test_preload_parses_every_list_and_taxonomy(keywords_dir: Path, taxonomy_dir: Path) -> None:
    resources = Resources(keywords_dir, taxonomy_dir)
    resources.preload(TAXONOMIES)
    # parsed and cached: later uses cost nothing and cannot fail
    assert {"curated_brands", "packaging_grammar", "brand_prefixes"} <= set(vars(resources))
    assert len(resources.curated_brands) > 0
    assert set(resources._taxonomies) == set(TAXONOMIES)


def test_preload_names_every_missing_file(keywords_dir: Path, taxonomy_dir: Path, tmp_path: Path) -> None:
    partial = tmp_path / "ocr"
    shutil.copytree(keywords_dir, partial)
    (partial / "label_flashtext.txt").unlink()
    (partial / "store_regex.txt").unlink()
    resources = Resources(partial, taxonomy_dir, grammars_dir=keywords_dir.parent / "grammars")
    with pytest.raises(MissingResourceError) as caught:
        resources.preload([*TAXONOMIES, "no_such_taxonomy"])
    message = str(caught.value)
    assert "label_flashtext.txt" in message and "store_regex.txt" in message
    assert "no_such_taxonomy" in message
    assert "brand.txt" not in message  # what is present loads fine


def test_preload_names_an_unusable_category_model(
    keywords_dir: Path, taxonomy_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "category-model"
    broken.mkdir()
    (broken / "labels.json").write_text("[]")  # and no model.onnx
    resources = Resources(keywords_dir, taxonomy_dir, category_model=broken)
    with pytest.raises(MissingResourceError, match=r"category_classifier: .*cannot load the category model"):
        resources.preload(TAXONOMIES)
