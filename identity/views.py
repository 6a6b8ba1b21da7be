"""Sign-in, activation and password-reset pages.

The views move people between steps (kept in identity.pending) and render forms; whether a
password, code or identity is right is decided in identity/services.py. The session is
authenticated (`login`) only at the very end, after the second factor.

Each code page carries up to two forms: "send"/"resend" (choose SMS or e-mail, ask for a code)
and "verify" (type the code); the hidden `action` field says which one was submitted.
"""

from __future__ import annotations

from typing import NoReturn

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from candidates.models import Candidate

from . import pending, services, totp
from .forms import (
    ActivationForm,
    AuthenticatorCodeForm,
    ChannelForm,
    CodeAndPasswordForm,
    CodeForm,
    PasswordResetForm,
    SignInForm,
)
from .models import OneTimeCode, User
from .pending import Flow, Pending, Step

Purpose = OneTimeCode.Purpose
_GET_POST = require_http_methods(["GET", "HEAD", "POST"])


def _home_for(user: User) -> str:
    return reverse("candidates:list") if user.is_staff_member else reverse("portal:home")


def _safe_next(request: HttpRequest, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "") or ""


def _restart(request: HttpRequest, url_name: str, message: str) -> HttpResponse:
    pending.clear(request)
    messages.info(request, message)
    return redirect(url_name)


def _deliver(
    request: HttpRequest, state: Pending, owner: User | Candidate, purpose: str, channel: str
) -> str | None:
    """Send a code by `channel` and move to the code step; returns an error message or None."""
    try:
        destination = services.issue_code(owner, purpose, channel, language=_language(request))
    except services.Refused as refusal:
        return refusal.message
    if state.step == Step.CODE:
        # The code page already names the destination; a resend needs a visible answer.
        messages.success(
            request,
            _("A new code has been sent to %(destination)s.") % {"destination": destination},
        )
    pending.save(request, state.but(step=Step.CODE, channel=channel))
    return None


def _begin_codes(
    request: HttpRequest,
    flow: str,
    owner: User | Candidate,
    purpose: str,
    channels: dict[str, str],
    **fields: object,
) -> None:
    """Start `flow` at the choice of channel; with only one way to reach the person, send now."""
    state = pending.start(request, flow, Step.CHOOSE_CHANNEL, **fields)
    if len(channels) == 1:
        error = _deliver(request, state, owner, purpose, next(iter(channels)))
        if error:
            messages.error(request, error)


def _handle_send(
    request: HttpRequest,
    state: Pending,
    owner: User | Candidate,
    purpose: str,
    channels: dict[str, str],
) -> tuple[ChannelForm, bool]:
    """The send/resend form of a code page: (form to show, whether a code was just sent)."""
    bound = request.method == "POST" and request.POST.get("action") in ("send", "resend")
    form = ChannelForm(channels, request.POST if bound else None, prefix="send")
    if bound and form.is_valid():
        error = _deliver(request, state, owner, purpose, form.cleaned_data["channel"])
        if error is None:
            return form, True
        form.add_error("channel", error)
    return form, False


def _code_form_data(request: HttpRequest) -> dict | None:
    if request.method == "POST" and request.POST.get("action") == "verify":
        return request.POST
    return None


def _pending_user(state: Pending | None) -> User | None:
    if state is None or state.user_id is None:
        return None
    return User.objects.filter(pk=state.user_id, is_active=True).first()


# --- sign-in ----------------------------------------------------------------------------------


@_GET_POST
@never_cache
@sensitive_post_parameters("password")
def sign_in(request: HttpRequest) -> HttpResponse:
    """First step for everyone: Massar code (or staff username) and password."""
    if request.user.is_authenticated:
        return redirect(_home_for(request.user))
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = SignInForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            user = services.check_password(
                request, form.cleaned_data["username"], form.cleaned_data["password"]
            )
            step = services.second_factor(user)
            if step == Step.CODE:
                channels = services.require_channels(request, user)
                _begin_codes(
                    request,
                    Flow.SIGN_IN,
                    user,
                    Purpose.SIGN_IN,
                    channels,
                    user_id=user.pk,
                    next_url=next_url,
                )
                return redirect("identity:verify_code")
        except services.Refused as refusal:
            form.add_error(None, refusal.message)
        else:
            pending.start(request, Flow.SIGN_IN, step, user_id=user.pk, next_url=next_url)
            return redirect("identity:verify_code" if step == Step.TOTP else "identity:totp_enrol")
    return render(request, "identity/sign_in.html", {"form": form, "next": next_url})


@_GET_POST
@never_cache
def verify_code(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in: a one-time code (candidates) or an authenticator code (staff)."""
    state = pending.load(request, Flow.SIGN_IN)
    user = _pending_user(state)
    if state is None or user is None:
        return _restart(
            request, "identity:sign_in", _("Your sign-in has expired. Please start again.")
        )
    if state.step == Step.ENROL:
        return redirect("identity:totp_enrol")
    channels = services.channels_for(user) if state.step != Step.TOTP else {}
    channel_form, sent = _handle_send(request, state, user, Purpose.SIGN_IN, channels)
    if sent:
        return redirect("identity:verify_code")

    form = None
    if state.step in (Step.CODE, Step.TOTP):
        form_class = AuthenticatorCodeForm if state.step == Step.TOTP else CodeForm
        form = form_class(_code_form_data(request))
        if form.is_bound and form.is_valid():
            try:
                if state.step == Step.TOTP:
                    services.check_totp(request, user, form.cleaned_data["code"])
                else:
                    services.check_sign_in_code(request, user, form.cleaned_data["code"])
            except services.Refused as refusal:
                form.add_error("code", refusal.message)
            else:
                pending.clear(request)
                services.complete_sign_in(request, user)
                return redirect(state.next_url or _home_for(user))
    return render(
        request,
        "identity/verify_code.html",
        {
            "step": state.step,
            "form": form,
            "channel_form": channel_form,
            "channels": channels,
            "destination": channels.get(state.channel, ""),
            "ttl_minutes": max(1, settings.OTP_TTL_SECONDS // 60),
        },
    )


@_GET_POST
@never_cache
def totp_enrol(request: HttpRequest) -> HttpResponse:
    """Staff without an authenticator set one up, after their password and before signing in."""
    state = pending.load(request, Flow.SIGN_IN)
    user = _pending_user(state)
    if state is None or user is None or state.step != Step.ENROL:
        return _restart(
            request, "identity:sign_in", _("Your sign-in has expired. Please start again.")
        )
    secret = services.totp_enrolment_secret(user)
    form = AuthenticatorCodeForm(_code_form_data(request))
    if form.is_bound and form.is_valid():
        try:
            services.confirm_totp_enrolment(request, user, form.cleaned_data["code"])
        except services.Refused as refusal:
            form.add_error("code", refusal.message)
        else:
            pending.clear(request)
            services.complete_sign_in(request, user)
            messages.success(request, _("Your authenticator app is set up. You are signed in."))
            return redirect(state.next_url or _home_for(user))
    uri = totp.provisioning_uri(secret, user.get_username())
    return render(
        request,
        "identity/totp_enrol.html",
        {
            "form": form,
            "secret": totp.grouped(secret),
            "qr": totp.qr_svg(uri, _("QR code to scan with your authenticator app")),
        },
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    response = redirect("portal:home")
    # A shared phone keeps nothing of the session: the offline diploma copy (service worker and
    # its cache) and anything else stored by our pages go with it.
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response


# --- activation -------------------------------------------------------------------------------


@_GET_POST
@never_cache
def activate(request: HttpRequest) -> HttpResponse:
    """First visit: prove who you are with the details on your file."""
    if request.user.is_authenticated:
        return redirect(_home_for(request.user))
    form = ActivationForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            candidate = services.find_file_to_activate(
                request,
                form.cleaned_data["massar_code"],
                form.cleaned_data["birth_date"],
                form.cleaned_data["cnie_number"],
            )
            channels = services.require_channels(request, candidate)
        except services.Refused as refusal:
            form.add_error(None, refusal.message)
        else:
            _begin_codes(
                request,
                Flow.ACTIVATION,
                candidate,
                Purpose.ACTIVATION,
                channels,
                candidate_id=candidate.pk,
            )
            return redirect("identity:activate_code")
    return render(request, "identity/activate.html", {"form": form})


@_GET_POST
@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def activate_code(request: HttpRequest) -> HttpResponse:
    """Second step of activation: the code sent to the file's phone or e-mail, and a password."""
    state = pending.load(request, Flow.ACTIVATION)
    candidate = None
    if state is not None and state.candidate_id is not None:
        candidate = Candidate.objects.filter(pk=state.candidate_id, user__isnull=True).first()
    if state is None or candidate is None:
        return _restart(
            request, "identity:activate", _("Your activation has expired. Please start again.")
        )
    channels = services.channels_for(candidate)
    channel_form, sent = _handle_send(request, state, candidate, Purpose.ACTIVATION, channels)
    if sent:
        return redirect("identity:activate_code")

    form = None
    if state.step == Step.CODE:
        form = CodeAndPasswordForm(
            services.account_for_new_file(candidate), _code_form_data(request)
        )
        if form.is_bound and form.is_valid():
            try:
                services.check_lookup_code(
                    request, candidate, Purpose.ACTIVATION, form.cleaned_data["code"]
                )
                user = services.activate_account(
                    request, candidate, form.cleaned_data["new_password1"]
                )
            except services.Refused as refusal:
                form.add_error("code", refusal.message)
            else:
                pending.clear(request)
                # The person has just shown the details of the file and the code sent to its
                # phone or e-mail: two factors, so the new account is signed in at once.
                services.complete_sign_in(request, user)
                messages.success(request, _("Your account is active. Welcome!"))
                return redirect("portal:home")
    return render(
        request,
        "identity/code_password.html",
        {
            "flow": Flow.ACTIVATION,
            "step": state.step,
            "form": form,
            "channel_form": channel_form,
            "channels": channels,
            "destination": channels.get(state.channel, ""),
        },
    )


# --- password reset ---------------------------------------------------------------------------


@_GET_POST
@never_cache
def password_reset(request: HttpRequest) -> HttpResponse:
    """Candidates: Massar code and birth date. Staff: username (answer never says if it exists)."""
    form = PasswordResetForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            target = services.find_account_to_reset(
                request, form.cleaned_data["identifier"], form.cleaned_data.get("birth_date")
            )
            if target.is_candidate:
                channels = services.require_channels(request, target.user)
                _begin_codes(
                    request,
                    Flow.RESET,
                    target.user,
                    Purpose.PASSWORD_RESET,
                    channels,
                    user_id=target.user.pk,
                )
            else:
                pending.start(
                    request,
                    Flow.RESET,
                    Step.CODE,
                    user_id=target.user.pk if target.user else None,
                    channel="email",
                    username=target.username,
                )
                _send_staff_reset_code(request, target.user)
        except services.Refused as refusal:
            form.add_error(None, refusal.message)
        else:
            return redirect("identity:password_reset_code")
    return render(request, "identity/password_reset.html", {"form": form})


def _send_staff_reset_code(request: HttpRequest, user: User | None) -> None:
    if user is not None and user.email:
        try:
            services.issue_code(user, Purpose.PASSWORD_RESET, "email", language=_language(request))
        except services.Refused:
            # Saying "too soon" or "not sent" would confirm that the account exists.
            pass
    messages.success(
        request,
        _(
            "If an account with this username exists and has an e-mail address, we have sent a "
            "code to it."
        ),
    )


@_GET_POST
@never_cache
@sensitive_post_parameters("new_password1", "new_password2")
def password_reset_code(request: HttpRequest) -> HttpResponse:
    """Second step of a reset: the code and the new password."""
    state = pending.load(request, Flow.RESET)
    user = _pending_user(state)
    if state is None or (state.user_id is not None and user is None):
        return _restart(
            request,
            "identity:password_reset",
            _("Your password reset has expired. Please start again."),
        )
    # Staff (and an unknown username, treated as staff) get the code by e-mail only, and every
    # answer about it is the same whether the account exists or not.
    is_staff_reset = user is None or user.is_staff_member
    if is_staff_reset and request.method == "POST" and request.POST.get("action") == "resend":
        _send_staff_reset_code(request, user)
        return redirect("identity:password_reset_code")
    channels = {} if is_staff_reset else services.channels_for(user)
    channel_form, sent = _handle_send(request, state, user, Purpose.PASSWORD_RESET, channels)
    if sent:
        return redirect("identity:password_reset_code")

    form = None
    if state.step == Step.CODE:
        form = CodeAndPasswordForm(user or User(), _code_form_data(request))
        if form.is_bound and form.is_valid():
            try:
                if user is None:
                    _refuse_decoy_code(request, state)
                services.check_lookup_code(
                    request, user, Purpose.PASSWORD_RESET, form.cleaned_data["code"]
                )
                services.reset_password(request, user, form.cleaned_data["new_password1"])
            except services.Refused as refusal:
                form.add_error("code", refusal.message)
            else:
                pending.clear(request)
                messages.success(
                    request, _("Your password has been changed. You can now sign in with it.")
                )
                return redirect("identity:sign_in")
    return render(
        request,
        "identity/code_password.html",
        {
            "flow": Flow.RESET,
            "step": state.step,
            "form": form,
            "channel_form": channel_form,
            "channels": channels,
            "destination": channels.get(state.channel, ""),
            "is_staff_reset": is_staff_reset,
        },
    )


def _refuse_decoy_code(request: HttpRequest, state: Pending) -> NoReturn:
    """A code typed for an unknown username: refused as a real wrong code would be."""
    services.count_decoy_failure(request, state.username)
    state = state.but(decoy_attempts=state.decoy_attempts + 1)
    pending.save(request, state)
    if state.decoy_attempts > services.MAX_CODE_ATTEMPTS:
        raise services.Refused(_("Too many wrong codes. Ask for a new code."))
    raise services.Refused(_("This code is not right. Check the last message we sent you."))


# --- national digital identity (OpenID Connect) -----------------------------------------------


@require_POST
@never_cache
def oidc_start(request: HttpRequest) -> HttpResponse:
    """Send the browser to the identity provider (a POST, so no other site can start it)."""
    from . import oidc

    next_url = _safe_next(request, request.POST.get("next"))
    try:
        url = oidc.begin(request, next_url)
    except oidc.OIDCError as refusal:
        return _oidc_refused(request, refusal)
    return redirect(url)


@require_http_methods(["GET"])  # not HEAD: a probe must not consume the attempt
@never_cache
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: verify it, link the claims to the candidate file, sign in."""
    from . import oidc

    try:
        claims, next_url = oidc.finish(request)
        user = oidc.link_and_sign_in(request, claims)
    except oidc.OIDCError as refusal:
        if refusal.reason == oidc.REASON_REFUSED:
            services.record_event(
                "oidc", None, services.client_address(request), False, refusal.reason
            )
        return _oidc_refused(request, refusal)
    return redirect(_safe_next(request, next_url) or _home_for(user))


def _oidc_refused(request: HttpRequest, refusal: Exception) -> HttpResponse:
    import logging

    # The precise cause (which check failed) is for the logs; the person reads `message`.
    logging.getLogger("identity.oidc").warning("OIDC sign-in refused: %s", refusal)
    message = getattr(refusal, "message", str(refusal))
    return render(request, "identity/oidc_refused.html", {"message": message}, status=403)
