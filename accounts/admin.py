from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import AuditEntry, Domain, Identity, ServerProfile, User


@admin.register(User)
class WebmailUserAdmin(UserAdmin[User]):
    list_display = ("username", "is_active", "is_staff", "last_login")
    search_fields = ("username", "email")


@admin.register(ServerProfile)
class ServerProfileAdmin(admin.ModelAdmin[ServerProfile]):
    list_display = ("name", "imap_host", "imap_port", "smtp_host", "smtp_port")


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin[Domain]):
    list_display = ("name", "profile", "auto_create_accounts")


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin[Identity]):
    list_display = ("email", "user", "display_name", "is_default")
    search_fields = ("email", "user__username")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ("created", "kind", "actor", "subject", "ip")
    list_filter = ("kind",)
    search_fields = ("subject",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
