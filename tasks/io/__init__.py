"""Files, folders and processes of this host: atomic writes, the manifest, folder claims, the code version (no Prefect)."""
