"""The sweep plan, decided once before any work: chunks and bands, preflight checks, the cache folder (no Prefect)."""
