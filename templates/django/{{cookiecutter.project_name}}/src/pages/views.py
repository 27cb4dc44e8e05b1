"""The start page: which backing services answer, by their service names; and /healthz."""

import platform

import django
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import Visit


def index(request: HttpRequest) -> HttpResponse:
    services = [_database(request.path)]
    reachable = all(service["ok"] for service in services)
    context = {
        "project": settings.PROJECT_NAME,
        "services": services,
        "reachable": reachable,
        "django_version": django.get_version(),
        "python_version": platform.python_version(),
    }
    return render(request, "pages/index.html", context, status=200 if reachable else 503)


def healthz(request: HttpRequest) -> HttpResponse:
    """For the container's healthcheck: the server answers (the database is not asked)."""
    return HttpResponse("ok\n", content_type="text/plain")


def _database(path: str) -> dict:
    db = settings.DATABASES["default"]
    service = {"name": db["HOST"], "ok": False, "detail": ""}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        Visit.objects.create(path=path[:200])
        visits = Visit.objects.count()
    except DatabaseError as exc:
        service["detail"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return service
    service["ok"] = True
    service["detail"] = f"PostgreSQL {version}, database {db['NAME']} as {db['USER']}, {visits} visits recorded"
    return service
