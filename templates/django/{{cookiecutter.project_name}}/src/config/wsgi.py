"""WSGI entry point of {{ cookiecutter.project_name }} (runserver in development, gunicorn or uwsgi in production)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
