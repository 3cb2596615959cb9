"""Predictors: Robotoff's prediction rules over product and OCR-text tables (see docs/predictions.md)."""
