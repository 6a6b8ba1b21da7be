"""Who may see what. Every view that returns an object checks it against the session's scope."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Role

STAFF_ROLES = (Role.SCHOOL, Role.ACADEMY, Role.MINISTRY)


def scope_candidates(user, queryset: QuerySet) -> QuerySet:
    """Narrow a Candidate queryset to what this user may see."""
    if not user.is_authenticated:
        return queryset.none()
    if user.role == Role.MINISTRY:
        return queryset
    if user.role == Role.ACADEMY:
        return queryset.filter(school__directorate__academy_id=user.academy_id)
    if user.role == Role.SCHOOL:
        return queryset.filter(school_id=user.school_id)
    if user.role == Role.CANDIDATE:
        return queryset.filter(user_id=user.pk)
    return queryset.none()


def scope_schools(user, queryset: QuerySet) -> QuerySet:
    if not user.is_authenticated or user.role == Role.CANDIDATE:
        return queryset.none()
    if user.role == Role.MINISTRY:
        return queryset
    if user.role == Role.ACADEMY:
        return queryset.filter(directorate__academy_id=user.academy_id)
    return queryset.filter(pk=user.school_id)


def scope_directorates(user, queryset: QuerySet) -> QuerySet:
    if not user.is_authenticated or user.role in (Role.CANDIDATE, Role.SCHOOL):
        return queryset.none()
    if user.role == Role.ACADEMY:
        return queryset.filter(academy_id=user.academy_id)
    return queryset


def can_manage_school(user, school) -> bool:
    return scope_schools(user, type(school).objects.filter(pk=school.pk)).exists()


def role_required(*roles: str) -> Callable:
    """Allow only signed-in users with one of `roles`; others get 403 (anonymous: sign-in)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.user.role not in roles:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


staff_required = role_required(*STAFF_ROLES)
candidate_required = role_required(Role.CANDIDATE)
