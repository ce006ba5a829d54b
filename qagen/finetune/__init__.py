"""Fine-tuning on a run's dataset: the jobs-API launcher and its state, the local trainer."""
