from django.contrib import admin

from audit.services import Change, record_changes

from .models import CommissionMember


def _state(member: CommissionMember | None) -> dict:
    if member is None:
        return {}
    return {"user": member.user_id, "academy": member.academy_id, "is_active": member.is_active}


@admin.register(CommissionMember)
class CommissionMemberAdmin(admin.ModelAdmin):
    """Commission membership is granted by a superuser (Django's admin); every change is
    written to the audit log."""

    list_display = ("user", "academy", "is_active", "created_at")
    list_filter = ("is_active", "academy")
    raw_id_fields = ("user",)

    def save_model(self, request, obj, form, change) -> None:
        before = _state(CommissionMember.objects.filter(pk=obj.pk).first()) if change else {}
        super().save_model(request, obj, form, change)
        record_changes(
            request.user,
            [
                Change(
                    action="scholarships.commission_member",
                    object_type="scholarships.commissionmember",
                    object_id=str(obj.pk),
                    before=before,
                    after=_state(obj),
                )
            ],
        )

    def delete_model(self, request, obj) -> None:
        before = _state(obj)
        pk = obj.pk
        super().delete_model(request, obj)
        record_changes(
            request.user,
            [
                Change(
                    action="scholarships.commission_member_removed",
                    object_type="scholarships.commissionmember",
                    object_id=str(pk),
                    before=before,
                )
            ],
        )
