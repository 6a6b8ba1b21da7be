"""`{% oidc_enabled as flag %}`: whether sign-in with the national digital identity is set up."""

from __future__ import annotations

from django import template

from identity import oidc

register = template.Library()


@register.simple_tag
def oidc_enabled() -> bool:
    return oidc.enabled()
