from __future__ import annotations

from django import template

from notifications.services import mask

register = template.Library()


@register.filter
def masked(address: str, channel: str) -> str:
    """A destination as staff may see it in a list: recognisable, not copyable."""
    return mask(channel, address) if address else ""
