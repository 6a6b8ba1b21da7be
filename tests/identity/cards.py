"""Card zones for tests: the machine-readable zone of a Moroccan identity card (TD1)."""

import datetime

from identity.mrz import build_td1


def cnie_card_zone(cnie_number: str) -> tuple[str, str, str]:
    """The zone of a card for EL AMRANI MOHAMMED (born 14 March 2008, card AB1234567 valid
    until 2034) that carries `cnie_number` in its optional data."""
    return build_td1(
        "AB1234567",
        datetime.date(2008, 3, 14),
        "M",
        datetime.date(2034, 3, 14),
        "EL AMRANI",
        "MOHAMMED",
        optional_data_1=cnie_number,
    )
