"""What a configuration keeps: shift sensitivity, the linear probe, the small CNN's learned kernels (no Prefect)."""
