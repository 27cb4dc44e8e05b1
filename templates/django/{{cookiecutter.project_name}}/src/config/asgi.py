"""ASGI entry point of {{ cookiecutter.project_name }} (for uvicorn, daphne and friends)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()
