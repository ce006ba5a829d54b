"""qagen: turn a folder of documents into a question/answer dataset for fine-tuning."""

__version__ = "0.1.0"
