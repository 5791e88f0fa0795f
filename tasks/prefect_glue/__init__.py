"""Prefect plumbing that is not a task: cache policy and records, artifacts, progress, run names, worker checks, private-API shims."""
