from django.apps import AppConfig


class DevserverConfig(AppConfig):
    """The development mail server app: management commands only, no models."""

    name = "webmail.devserver"
    verbose_name = "Development mail server"
    default_auto_field = "django.db.models.BigAutoField"
