"""The review page: ``OUT/review.html``, one self-contained file made from an out folder's files.

It reads only what a run wrote (``pairs.jsonl``, ``rejects.jsonl``, ``chunks.jsonl``, ``report.json``
and, after a review, ``decisions.jsonl``), so ``qagen review OUT`` can make it again at any time
without the corpus, the model or the settings. ``qagen.review.data`` reads the folder,
``qagen.review.page`` writes the page; the page's script and style are ``review.js`` and ``review.css``.
"""
