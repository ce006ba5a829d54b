"""Batch jobs: the pending requests of a stage asked as request files instead of one request at a time.

``requestfile`` builds the JSONL lines and splits them at a service's limits, ``state`` keeps the
file and batch ids in the out folder so a rerun follows what was submitted, ``follower`` watches a
job on the Batch API, ``results`` reads output files (OpenAI's and vLLM's shape) back into answers,
and ``sender`` ties them together behind the asker's sending step, so every answer goes into the
same journal as an online run's.
"""
