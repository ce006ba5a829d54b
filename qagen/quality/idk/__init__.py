""""I don't know" examples: candidate questions, their checks, refusals."""
