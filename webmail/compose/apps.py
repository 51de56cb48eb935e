from django.apps import AppConfig


class ComposeConfig(AppConfig):
    name = "webmail.compose"
    label = "compose"
    verbose_name = "Compose and contacts"
