"""Finding and decoding the corpus's files, chunking them, counting tokens."""
