"""One chunk of images through one conv setting: maps, pooled maps, statistics, .npy files (no Prefect)."""
