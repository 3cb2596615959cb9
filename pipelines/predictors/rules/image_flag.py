"""Image flag predictions (``robotoff/prediction/ocr/image_flag.py``): images moderators should look at.

Robotoff flags an OCR'd image for four independent reasons, each giving at most one prediction:

- text: the first phrase (leftmost, flashtext semantics) of the beauty or miscellaneous lists found in the
  image's default text (contiguous text, else the API's text annotation) →
  ``{"text": <matched text>, "type": "text", "label": "beauty"|"miscellaneous"}``;
- safe search: ``adult`` and ``violence`` each, when Cloud Vision rates them ``VERY_LIKELY`` →
  ``{"type": "safe_search_annotation", "label": key, "likelihood": "VERY_LIKELY"}``;
- labels: the first Cloud Vision label of :data:`LABELS_TO_FLAG` (in the API's order) scored at least 0.6
  → ``{"type": "label_annotation", "label": <description lowercased>, "likelihood": score}``, confidence =
  score;
- faces: the most confident face detection, if at least 0.6 →
  ``{"type": "face_annotation", "label": "face", "likelihood": confidence}``, confidence = it.

Value, value tag, predictor and automatic processing are None. Every part is a vectorized pass over the
OCR table's columns (``text``, ``safe_search``, ``labels``, ``faces``).
"""

from __future__ import annotations

import polars as pl

from pipelines.predictors.base import RESULT_SCHEMA, Predictor, empty_result, result_columns
from pipelines.predictors.keywords import lower_text, match_keywords
from pipelines.predictors.resources import Resources
from pipelines.predictors.texts import OCR_SOURCE

TYPE = "image_flag"
MIN_SCORE = 0.6
SAFE_SEARCH_FLAGGED = ("adult", "violence")
VERY_LIKELY = "VERY_LIKELY"

# Cloud Vision labels showing people, body parts, pets or screens: pictures that are not product photos.
# ("Gesture" and "Thumb" are deliberately absent in Robotoff: too common on hand-held product photos.)
LABELS_TO_FLAG: frozenset[str] = frozenset(
    {
        "Face",
        "Head",
        "Selfie",
        "Hair",
        "Forehead",
        "Chin",
        "Cheek",
        "Arm",
        "Tooth",
        "Human Leg",
        "Ankle",
        "Eyebrow",
        "Ear",
        "Neck",
        "Jaw",
        "Nose",
        "Facial Expression",
        "Glasses",
        "Eyewear",
        "Jeans",
        "Shoe",
        "Child",
        "Baby",
        "Human",
        "Dog",
        "Cat",
        "Computer",
        "Laptop",
        "Refrigerator",
    }
)


def _result(frame: pl.DataFrame, data: pl.Expr, confidence: pl.Expr | None = None) -> pl.DataFrame:
    """Rows of ``frame`` (with a ``row`` column) as image_flag results with the given ``data`` JSON."""
    return frame.select(result_columns(TYPE, data, confidence=confidence))


def text_flags(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """The first keyword match of each image's text, with the label of the list it comes from."""
    keywords = resources.image_flag_keywords
    matches = match_keywords(frame["text"], {TYPE: keywords}, lower_text(frame))
    if matches.height == 0:
        return empty_result()
    first = matches.sort("row", "start").unique("row", keep="first", maintain_order=True)
    labels = pl.DataFrame(
        {"keyword": list(keywords.clean), "label": [label for _, label in keywords.clean.values()]},
        schema={"keyword": pl.String, "label": pl.String},
    )
    first = first.join(labels, on="keyword", how="left", maintain_order="left")
    texts = frame["text"].gather(first["row"])
    first = first.with_columns(text=texts.str.slice(first["start"], first["end"] - first["start"]))
    data = pl.struct("text", type=pl.lit("text"), label="label").struct.json_encode()
    return _result(first, data)


def safe_search_flags(frame: pl.DataFrame) -> pl.DataFrame:
    """``adult`` / ``violence`` rated ``VERY_LIKELY`` (the top of the likelihood scale)."""
    if "safe_search" not in frame.columns:
        return empty_result()
    parts = []
    annotations = frame.select("safe_search").with_row_index("row")
    for key in SAFE_SEARCH_FLAGGED:
        flagged = annotations.filter(pl.col("safe_search").struct.field(key) == VERY_LIKELY)
        data = pl.struct(
            type=pl.lit("safe_search_annotation"), label=pl.lit(key), likelihood=pl.lit(VERY_LIKELY)
        ).struct.json_encode()
        parts.append(_result(flagged, data))
    return pl.concat(parts)


def label_flags(frame: pl.DataFrame) -> pl.DataFrame:
    """Each image's first flagged Cloud Vision label scored at least :data:`MIN_SCORE`."""
    if "labels" not in frame.columns:
        return empty_result()
    labels = (
        frame.select("labels")
        .with_row_index("row")
        .explode("labels")
        .drop_nulls("labels")
        .unnest("labels")
        .filter(pl.col("description").is_in(list(LABELS_TO_FLAG)) & (pl.col("score") >= MIN_SCORE))
        .unique("row", keep="first", maintain_order=True)
    )
    data = pl.struct(
        type=pl.lit("label_annotation"),
        label=pl.col("description").str.to_lowercase(),
        likelihood=pl.col("score"),
    ).struct.json_encode()
    return _result(labels, data, pl.col("score"))


def face_flags(frame: pl.DataFrame) -> pl.DataFrame:
    """Images whose most confident face detection reaches :data:`MIN_SCORE`."""
    if "faces" not in frame.columns:
        return empty_result()
    faces = (
        frame.select(best=pl.col("faces").list.max())
        .with_row_index("row")
        .filter(pl.col("best") >= MIN_SCORE)
    )
    data = pl.struct(type=pl.lit("face_annotation"), label=pl.lit("face"), likelihood=pl.col("best"))
    return _result(faces, data.struct.json_encode(), pl.col("best"))


def run(frame: pl.DataFrame, resources: Resources) -> pl.DataFrame:
    """Robotoff's ``flag_image`` over every image of ``frame``."""
    parts = [text_flags(frame, resources), safe_search_flags(frame), label_flags(frame), face_flags(frame)]
    return pl.concat([part.select(list(RESULT_SCHEMA)) for part in parts])


PREDICTOR = Predictor(
    type=TYPE,
    name="image_flag",
    predictors=(None,),
    sources=frozenset({OCR_SOURCE}),
    reads=("text", "safe_search", "labels", "faces"),
    run=run,
    files=(("keywords", "image_flag_beauty.txt"), ("keywords", "image_flag_miscellaneous.txt")),
)
