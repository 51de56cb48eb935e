from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webmail.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/mail/INBOX/", permanent=False), name="home"),
    path("", include("accounts.urls")),
    path("mail/", include("webmail.mail.urls")),
    path("", include("webmail.compose.urls")),
    path("outbox/", include("webmail.outbox.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
