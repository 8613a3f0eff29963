"""The royalty chart of accounts (codes in the ledger). See docs/royalties.md."""

from ledger.models import AccountKind
from ledger.services import AccountSpec


def partner_receivable(partner_id: int, label_id: int, currency: str) -> AccountSpec:
    return AccountSpec(
        code=f"partner:{partner_id}:label:{label_id}:receivable",
        kind=AccountKind.ASSET,
        currency=currency,
        owner_key=f"catalog.partner:{partner_id}",
    )


def party_payable(party_id: int, currency: str) -> AccountSpec:
    return AccountSpec(
        code=f"party:{party_id}:payable",
        kind=AccountKind.LIABILITY,
        currency=currency,
        owner_key=f"catalog.party:{party_id}",
    )


def party_advance(party_id: int, currency: str) -> AccountSpec:
    return AccountSpec(
        code=f"party:{party_id}:advance",
        kind=AccountKind.ASSET,
        currency=currency,
        owner_key=f"catalog.party:{party_id}",
    )


def _label(label_id: int, name: str, kind: str, currency: str) -> AccountSpec:
    return AccountSpec(
        code=f"label:{label_id}:{name}", kind=kind, currency=currency, owner_key=f"catalog.label:{label_id}"
    )


def label_share(label_id: int, currency: str) -> AccountSpec:
    return _label(label_id, "royalty_share", AccountKind.INCOME, currency)


def label_suspense(label_id: int, currency: str) -> AccountSpec:
    return _label(label_id, "suspense", AccountKind.LIABILITY, currency)


def label_fx_clearing(label_id: int, currency: str) -> AccountSpec:
    return _label(label_id, "fx_clearing", AccountKind.EQUITY, currency)


def label_withholding(label_id: int, currency: str) -> AccountSpec:
    return _label(label_id, "withholding_tax", AccountKind.LIABILITY, currency)


def label_cash(label_id: int, currency: str) -> AccountSpec:
    return _label(label_id, "cash", AccountKind.ASSET, currency)
