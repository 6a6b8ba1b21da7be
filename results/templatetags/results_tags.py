"""{% candidate_result candidate as result %}: the candidate's published result, or None."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def candidate_result(candidate) -> dict[str, Any] | None:
    if candidate is None:
        return None
    from ..snapshot import result_for_candidate
    from ..views import shown

    return shown(result_for_candidate(candidate))
