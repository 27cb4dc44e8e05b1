"""devstack: reproducible local development environments on Docker Compose."""

__version__ = "0.1.0"
# The name on PyPI (`devstack` there is an unrelated project): `pipx install devstack-compose`.
# The command and the import package stay `devstack`.
DISTRIBUTION = "devstack-compose"
