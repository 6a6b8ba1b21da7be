"""Start-up checks of the notification settings: a misconfigured provider should stop the
deployment, not fail half a million messages on results day."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_sms_gateway(app_configs, **kwargs) -> list:
    if not settings.SMS_BACKEND.endswith(".HttpSMSBackend"):
        return []
    errors = []
    if urlparse(settings.SMS_GATEWAY_URL).scheme not in ("http", "https"):
        errors.append(
            Error(
                "SMS_BACKEND is the HTTP gateway but SMS_GATEWAY_URL is not an http(s) URL.",
                id="notifications.E001",
            )
        )
    if not settings.SMS_GATEWAY_TOKEN:
        errors.append(
            Warning(
                "SMS_GATEWAY_TOKEN is empty: the gateway is called without a bearer token.",
                id="notifications.W001",
            )
        )
    return errors


@register(deploy=True)
def check_site_url(app_configs, **kwargs) -> list:
    if urlparse(settings.NOTIFICATIONS_SITE_URL).scheme != "https":
        return [
            Warning(
                "NOTIFICATIONS_SITE_URL is not an https:// address: links in SMS and e-mail "
                "would point to it.",
                id="notifications.W002",
            )
        ]
    return []
