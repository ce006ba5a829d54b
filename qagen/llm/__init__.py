"""Talking to models: the ChatModel protocol, the OpenAI-compatible client, the asker, templates, the offline generator."""
