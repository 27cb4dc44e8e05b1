from django.db import models


class Visit(models.Model):
    """One request to the start page: proof that the site writes to the database."""

    path = models.CharField(max_length=200)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.path} at {self.at:%Y-%m-%d %H:%M:%S}"
