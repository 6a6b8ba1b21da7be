"""Forms of the sign-in pages. They check the shape of what was typed; identity/services.py
decides whether it is right."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from candidates.identifiers import is_valid_massar, normalize_massar

from .services import CODE_DIGITS, normalize_username

# Mobile keyboards must not "help" with identifiers and codes.
_IDENTIFIER_ATTRS = {"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"}


def _code_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=CODE_DIGITS + 2,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                **_IDENTIFIER_ATTRS,
            }
        ),
    )


class CodeMixin:
    def clean_code(self) -> str:
        # People copy codes with the space some apps and messages put in the middle.
        code = "".join(self.cleaned_data["code"].split())
        if len(code) != CODE_DIGITS or not code.isdigit():
            raise ValidationError(_("Enter the 6 digits of the code."), code="format")
        return code


class SignInForm(forms.Form):
    username = forms.CharField(
        label=_("Massar code or staff username"),
        help_text=_("Candidates: your Massar code, for example R130046852."),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", **_IDENTIFIER_ATTRS}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ChannelForm(forms.Form):
    channel = forms.ChoiceField(label=_("Send the code"), widget=forms.RadioSelect)

    def __init__(self, channels: dict[str, str], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        labels = {
            "sms": _("By SMS to %(destination)s"),
            "email": _("By e-mail to %(destination)s"),
        }
        self.fields["channel"].choices = [
            # Isolated left-to-right, so that a phone number reads correctly inside Arabic text.
            (channel, labels[channel] % {"destination": f"\u2066{destination}\u2069"})
            for channel, destination in channels.items()
        ]
        if channels:
            self.fields["channel"].initial = next(iter(channels))


class CodeForm(CodeMixin, forms.Form):
    code = _code_field(_("One-time code"), _("The 6 digits we sent you. Spaces do not matter."))


class AuthenticatorCodeForm(CodeMixin, forms.Form):
    code = _code_field(
        _("Code from your authenticator app"),
        _("The 6 digits your app shows for Bac e-Services. A new code appears every 30 seconds."),
    )


class NewPasswordMixin:
    """Two new-password fields checked with the project's password validators."""

    user = None

    def clean(self) -> dict:
        cleaned = super().clean()  # type: ignore[misc]
        first = cleaned.get("new_password1")
        second = cleaned.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", _("The two passwords are not the same."))
        elif first:
            try:
                password_validation.validate_password(first, self.user)
            except ValidationError as error:
                self.add_error("new_password1", error)
        return cleaned


def _join_validators_help() -> str:
    return " ".join(str(text) for text in password_validation.password_validators_help_texts())


# Lazy: read from the configured validators in the language of each request.
_validators_help = lazy(_join_validators_help, str)()


def _new_password_fields() -> tuple[forms.CharField, forms.CharField]:
    return (
        forms.CharField(
            label=_("New password"),
            strip=False,
            max_length=4096,
            help_text=_validators_help,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        ),
        forms.CharField(
            label=_("New password again"),
            strip=False,
            max_length=4096,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        ),
    )


class CodeAndPasswordForm(NewPasswordMixin, CodeMixin, forms.Form):
    code = _code_field(_("One-time code"), _("The 6 digits we sent you. Spaces do not matter."))
    new_password1, new_password2 = _new_password_fields()

    def __init__(self, user: object, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.user = user


def _birth_date_field(required: bool, help_text: str) -> forms.DateField:
    return forms.DateField(
        label=_("Birth date"),
        required=required,
        help_text=help_text,
        input_formats=["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"],
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
    )


class ActivationForm(forms.Form):
    massar_code = forms.CharField(
        label=_("Massar code"),
        help_text=_("One letter and nine digits, for example R130046852."),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "username", **_IDENTIFIER_ATTRS}),
    )
    birth_date = _birth_date_field(True, _("As written on your candidate file."))
    cnie_number = forms.CharField(
        label=_("CNIE number"),
        required=False,
        max_length=20,
        help_text=_(
            "The number of your national identity card, for example BE123456. Required if your "
            "school has recorded it on your file."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", **_IDENTIFIER_ATTRS}),
    )

    def clean_massar_code(self) -> str:
        code = normalize_massar(self.cleaned_data["massar_code"])
        if not is_valid_massar(code):
            raise ValidationError(
                _("A Massar code is one letter followed by nine digits."), code="format"
            )
        return code


class PasswordResetForm(forms.Form):
    identifier = forms.CharField(
        label=_("Massar code or staff username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", **_IDENTIFIER_ATTRS}),
    )
    birth_date = _birth_date_field(
        False, _("Candidates only: your birth date, as written on your candidate file.")
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        identifier = cleaned.get("identifier")
        if identifier:
            cleaned["identifier"] = normalize_username(identifier)
            if is_valid_massar(cleaned["identifier"]) and not cleaned.get("birth_date"):
                if "birth_date" not in self.errors:
                    self.add_error(
                        "birth_date", _("Enter your birth date: it is needed with a Massar code.")
                    )
        return cleaned
