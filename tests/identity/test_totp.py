import pyotp

from identity import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_800_000_000.0  # a fixed instant, at the start of a 30-second step
STEP = int(NOW // 30)


def test_the_current_code_is_accepted_and_gives_its_step():
    code = pyotp.TOTP(SECRET).at(NOW)
    assert totp.check_code(SECRET, code, None, at=NOW) == totp.Check(STEP, False)


def test_a_used_step_is_refused_and_reported_as_a_replay():
    code = pyotp.TOTP(SECRET).at(NOW)
    assert totp.check_code(SECRET, code, STEP, at=NOW) == totp.Check(None, True)


def test_an_older_code_is_refused_once_a_newer_one_was_used():
    older = pyotp.TOTP(SECRET).at(NOW - 30)
    assert totp.check_code(SECRET, older, STEP, at=NOW).step is None


def test_codes_outside_the_window_are_refused():
    app = pyotp.TOTP(SECRET)
    assert totp.check_code(SECRET, app.at(NOW + 60), None, at=NOW).step is None
    assert totp.check_code(SECRET, app.at(NOW - 60), None, at=NOW).step is None


def test_malformed_codes_are_refused():
    for code in ("", "12345", "1234567", "abcdef"):
        assert totp.check_code(SECRET, code, None, at=NOW) == totp.Check(None, False)


def test_the_secret_is_encrypted_and_decrypts_with_a_rotated_key_list(settings):
    from cryptography.fernet import Fernet

    token = totp.encrypt_secret(SECRET)
    assert SECRET not in token
    settings.DOCUMENT_KEYS = [Fernet.generate_key().decode(), *settings.DOCUMENT_KEYS]
    assert totp.decrypt_secret(token) == SECRET


def test_the_provisioning_uri_names_the_service_and_the_account():
    uri = totp.provisioning_uri(SECRET, "clerk")
    assert uri.startswith("otpauth://totp/Bac%20e-Services:clerk?")
    assert f"secret={SECRET}" in uri


def test_the_qr_code_is_svg_without_style_attributes():
    svg = totp.qr_svg("otpauth://totp/x?secret=" + SECRET, 'Scan "this" <code>')
    assert svg.startswith('<svg role="img" aria-label="Scan &quot;this&quot; &lt;code&gt;"')
    assert "style" not in svg and "<script" not in svg


def test_the_key_is_shown_in_groups_of_four():
    assert totp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"
