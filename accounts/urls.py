from django.urls import path

from accounts import settings_views, twofactor_views, views

urlpatterns = [
    path("login/", views.sign_in, name="login"),
    path("login/code/", views.sign_in_code, name="login-code"),
    path("logout/", views.sign_out, name="logout"),
    path("settings/", settings_views.settings_page, name="settings"),
    path("settings/theme/", settings_views.theme_save, name="settings-theme"),
    path("settings/identity/", settings_views.identity_save, name="settings-identity"),
    path("settings/identity/default/", settings_views.identity_default,
         name="settings-identity-default"),
    path("settings/remote-senders/add/", settings_views.remote_sender_add,
         name="settings-remote-add"),
    path("settings/remote-senders/remove/", settings_views.remote_sender_remove,
         name="settings-remote-remove"),
    path("settings/two-factor/", twofactor_views.two_factor, name="two-factor"),
    path("settings/two-factor/start/", twofactor_views.two_factor_start,
         name="two-factor-start"),
    path("settings/two-factor/qr.svg", twofactor_views.two_factor_qr, name="two-factor-qr"),
    path("settings/two-factor/confirm/", twofactor_views.two_factor_confirm,
         name="two-factor-confirm"),
    path("settings/two-factor/recovery-codes/", twofactor_views.two_factor_recovery_codes,
         name="two-factor-recovery"),
    path("settings/two-factor/off/", twofactor_views.two_factor_off, name="two-factor-off"),
]
