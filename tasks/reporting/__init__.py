"""Rows, the report model, its pages and templates, figures, sample pictures, compare (no Prefect)."""
