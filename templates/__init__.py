"""Built-in chat templates (JSON), shipped inside the package as qagen.templates."""
