"""Scoring a model on a run's held-out questions: asking, matching, refusals."""
