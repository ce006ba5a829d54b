"""The dataset files: example formats, split, file checks, validate, estimates."""
