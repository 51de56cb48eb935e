"""/outbox/ (included under "outbox/")."""

from django.urls import URLPattern, path

from webmail.outbox import views

urlpatterns: list[URLPattern] = [
    path("", views.outbox_list, name="outbox"),
    path("<int:pk>/", views.outbox_detail, name="outbox-detail"),
    path("<int:pk>/retry/", views.outbox_retry, name="outbox-retry"),
    path("<int:pk>/cancel/", views.outbox_cancel, name="outbox-cancel"),
]
