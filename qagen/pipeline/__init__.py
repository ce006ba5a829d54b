"""The generation run: stages, a thin orchestrator, the report."""
