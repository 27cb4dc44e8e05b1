"""devstack: reproducible local development environments on Docker Compose."""

__version__ = "0.1.0"
