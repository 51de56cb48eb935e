from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "webmail.mail"
    label = "mail"
    verbose_name = "Mail"
