from django.contrib import admin

from .models import CommissionMember


@admin.register(CommissionMember)
class CommissionMemberAdmin(admin.ModelAdmin):
    """Commission membership is granted by a superuser (Django's admin)."""

    list_display = ("user", "academy", "is_active", "created_at")
    list_filter = ("is_active", "academy")
    raw_id_fields = ("user",)
