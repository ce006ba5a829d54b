"""The built-in offline generator: extractive, deterministic, grounded by construction."""
