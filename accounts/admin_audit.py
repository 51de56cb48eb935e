"""Every change made in the admin goes to the audit log with a readable diff.

``AuditedAdmin`` hooks ``save_model``, ``delete_model``, ``delete_queryset`` and
``save_formset`` (inlines); the entry says who changed which object and each changed field
as ``label: old → new``. Secrets never appear (passwords, keys).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django.contrib import admin
from django.db import models
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest

from accounts.models import AuditEntry, User
from accounts.services import audit, client_ip

M = TypeVar("M", bound=models.Model)

HIDDEN_FIELDS = frozenset({"password", "key", "credential", "token", "last_check_report"})
_MAX = 120


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def field_display(obj: models.Model, field: models.Field[Any, Any]) -> str:
    """A field's value as a person reads it: choice labels, related objects' names, yes/no."""
    if field.name in HIDDEN_FIELDS:
        return "(hidden)"
    if field.many_to_many:
        return ", ".join(sorted(str(o) for o in getattr(obj, field.name).all())) or "—"
    if field.is_relation:
        related = getattr(obj, field.name, None)
        return str(related) if related is not None else "—"
    value = field.value_from_object(obj)
    if field.choices:
        value = dict(field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "—"
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


def _label(model: type[models.Model], name: str) -> str:
    field = next((f for f in model._meta.get_fields() if f.name == name), None)
    return str(field.verbose_name) if isinstance(field, models.Field) else name


def describe_changes(old: models.Model | None, new: models.Model,
                     changed: list[str]) -> str:
    """``label: old → new`` for each changed model field (new objects: ``label: value``)."""
    parts = []
    meta = new._meta
    for name in changed:
        field = next((f for f in meta.get_fields() if f.name == name), None)
        if not isinstance(field, models.Field) or field.many_to_many:
            continue
        after = field_display(new, field)
        if old is None:
            parts.append(f"{_label(type(new), name)}: {after}")
        else:
            parts.append(f"{_label(type(new), name)}: {field_display(old, field)} → {after}")
    return "; ".join(parts)


def _subject(obj: models.Model) -> str:
    return f"{obj._meta.verbose_name}: {obj}"


class AuditedAdmin(admin.ModelAdmin[M], Generic[M]):
    def save_model(self, request: HttpRequest, obj: M, form: ModelForm[M], change: bool
                   ) -> None:
        old = type(obj)._default_manager.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        changed = list(form.changed_data)
        if change and not changed:
            return
        diff = describe_changes(old, obj, changed)
        verb = "changed" if change else "created"
        audit(AuditEntry.Kind.ADMIN_CHANGE, actor=_actor(request), subject=_subject(obj),
              ip=client_ip(request), detail=f"{verb} {_subject(obj)}" + (
                  f": {diff}" if diff else ""))

    def delete_model(self, request: HttpRequest, obj: M) -> None:
        subject = _subject(obj)
        super().delete_model(request, obj)
        audit(AuditEntry.Kind.ADMIN_CHANGE, actor=_actor(request), subject=subject,
              ip=client_ip(request), detail=f"deleted {subject}")

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[M]) -> None:
        subjects = [_subject(o) for o in queryset]
        super().delete_queryset(request, queryset)
        for subject in subjects:
            audit(AuditEntry.Kind.ADMIN_CHANGE, actor=_actor(request), subject=subject,
                  ip=client_ip(request), detail=f"deleted {subject}")

    def save_formset(self, request: HttpRequest, form: Any, formset: BaseFormSet[Any],
                     change: bool) -> None:
        olds = {}
        for inline_form in getattr(formset, "forms", []):
            instance = getattr(inline_form, "instance", None)
            if instance is not None and instance.pk is not None and inline_form.has_changed():
                olds[instance.pk] = type(instance)._default_manager.filter(
                    pk=instance.pk).first()
        deleted = [_subject(f.instance) for f in getattr(formset, "deleted_forms", [])
                   if f.instance.pk is not None]
        super().save_formset(request, form, formset, change)
        parent = form.instance
        actor, ip = _actor(request), client_ip(request)
        for obj in getattr(formset, "new_objects", []):
            diff = describe_changes(None, obj, [
                f.name for f in obj._meta.concrete_fields
                if not f.primary_key and f.related_model is not type(parent)])
            audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=_subject(parent), ip=ip,
                  detail=f"added {_subject(obj)} to {_subject(parent)}: {diff}")
        for obj, fields in getattr(formset, "changed_objects", []):
            diff = describe_changes(olds.get(obj.pk), obj, list(fields))
            audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=_subject(parent), ip=ip,
                  detail=f"changed {_subject(obj)} of {_subject(parent)}: {diff}")
        for subject in deleted:
            audit(AuditEntry.Kind.ADMIN_CHANGE, actor=actor, subject=_subject(parent), ip=ip,
                  detail=f"removed {subject} from {_subject(parent)}")
