"""Run with `devstack run manage.py test` (Django creates and drops a test database)."""

from django.test import TestCase

from .models import Visit


class StartPageTests(TestCase):
    def test_start_page_reaches_the_database_and_records_the_visit(self):
        response = self.client.get("/")
        self.assertContains(response, "all services reachable")
        self.assertEqual(Visit.objects.count(), 1)

    def test_healthz_answers_without_the_database(self):
        with self.assertNumQueries(0):
            response = self.client.get("/healthz")
        self.assertEqual(response.content, b"ok\n")
