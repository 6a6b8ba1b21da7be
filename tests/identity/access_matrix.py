"""Who may reach the sign-in, activation and password-reset URLs: everyone, since they are how
one gets in (format: tests/privacy/matrix.py). Their abuse limits are tested in tests/identity."""

from tests.privacy.matrix import OK, Entry, profile

# Someone already signed in is sent to their home page.
WAY_IN = profile(302, anonymous=200)
# The national digital identity is not configured in the tests: refused to everyone.
# tests/identity/test_oidc.py runs the configured flow against a real provider.
OIDC_OFF = profile(403)

ENTRIES = {
    "identity:sign_in": Entry(WAY_IN, post=True),
    # Without a pending sign-in, the code steps send back to the first step.
    "identity:verify_code": Entry(profile(302), post=profile(302)),
    "identity:totp_enrol": Entry(profile(302), post=profile(302)),
    "identity:sign_out": Entry(profile(405), post=profile(OK)),
    "identity:activate": Entry(WAY_IN, post=True),
    "identity:activate_code": Entry(profile(302), post=profile(302)),
    # Open to the signed-in too (a forgotten password on a shared computer).
    "identity:password_reset": Entry(profile(200), post=True),
    "identity:password_reset_code": Entry(profile(302), post=profile(302)),
    "identity:oidc_start": Entry(profile(405), post=OIDC_OFF),
    "identity:oidc_callback": Entry(OIDC_OFF),
}
