import logging

from django.apps import AppConfig


class PagesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pages"

    def ready(self) -> None:
        # The container's healthcheck asks /healthz every 30 s: keep those requests out of
        # runserver's log (`devstack logs web`), so your own requests stand out.
        logging.getLogger("django.server").addFilter(
            lambda record: "/healthz " not in record.getMessage()
        )
