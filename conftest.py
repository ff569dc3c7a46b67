"""Repository-level pytest configuration for the project's own tests (tests/)."""

pytest_plugins = ["pytester"]
