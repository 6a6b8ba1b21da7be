import pytest
from django.core import mail

from notifications import services
from notifications.sms import MemorySMSBackend
from tests.factories import UserFactory


def test_a_code_by_sms_goes_to_the_phone_on_the_candidate_file(candidate_a):
    candidate_a.phone = "0612345678"
    candidate_a.save()
    address = services.send_one_time_code(candidate_a.user, "sms", "123456", "sign_in")
    assert address == "+212612345678"
    phone, text = MemorySMSBackend.outbox[-1]
    assert phone == "+212612345678"
    assert "123456" in text and "5 minutes" in text


def test_a_code_by_email_goes_to_the_address_on_the_file(candidate_a):
    services.send_one_time_code(candidate_a, "email", "654321", "activation", language="en")
    message = mail.outbox[-1]
    assert message.to == [candidate_a.email]
    assert "activation" in message.subject
    assert "654321" in message.body


def test_a_staff_member_receives_codes_at_the_account_address(clerk):
    services.send_one_time_code(clerk, "email", "111111", "password_reset")
    assert mail.outbox[-1].to == [clerk.email]
    assert "password" in mail.outbox[-1].subject


def test_the_message_is_written_in_the_language_asked_for(candidate_a, monkeypatch):
    seen = []
    real = services._texts

    def spy(purpose, code):
        from django.utils import translation

        seen.append(translation.get_language())
        return real(purpose, code)

    monkeypatch.setattr(services, "_texts", spy)
    services.send_one_time_code(candidate_a.user, "sms", "123456", "sign_in", language="ar")
    candidate_a.user.language = "fr"
    services.send_one_time_code(candidate_a.user, "sms", "123456", "sign_in")
    assert seen == ["ar", "fr"]


def test_a_missing_destination_is_a_delivery_error(db):
    user = UserFactory(email="", phone="")
    with pytest.raises(services.DeliveryError):
        services.send_one_time_code(user, "sms", "123456", "sign_in")


def test_a_provider_failure_is_a_delivery_error(candidate_a, settings):
    settings.SMS_BACKEND = "tests.notifications.test_services.BrokenSMS"
    with pytest.raises(services.DeliveryError):
        services.send_one_time_code(candidate_a.user, "sms", "123456", "sign_in")


class BrokenSMS:
    def send(self, phone, text):
        raise ConnectionError("provider down")


def test_destinations_are_masked_for_display():
    assert services.mask("sms", "+212612345678") == "+212 6•• ••• 678"
    assert services.mask("sms", "0712345678") == "+212 7•• ••• 678"
    assert services.mask("email", "candidate1@example.org") == "c•••@example.org"
    assert services.mask("sms", "+33612345678") == "•••678"


def test_destinations_list_sms_first_and_only_what_exists(candidate_a):
    assert list(services.destinations(candidate_a)) == ["sms", "email"]
    candidate_a.email = ""
    assert list(services.destinations(candidate_a)) == ["sms"]
