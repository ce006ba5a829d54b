"""Keeping only good pairs: text checks, grounding, the judge, dedupe, retrieval, "I don't know" examples."""
