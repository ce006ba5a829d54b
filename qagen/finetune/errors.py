"""The errors every fine-tuning module raises. The settings themselves live in ``qagen.settings``."""

from __future__ import annotations

from qagen.errors import QagenError


class FinetuneError(QagenError):
    """The dataset is not ready for fine-tuning, or the service could not run the job."""


class FinetuneRefused(FinetuneError):
    """The service refused to create a fine-tuning job for this account or resource."""
