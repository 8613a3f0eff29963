"""Typed royalty errors with stable codes (see config.errors)."""

from config.errors import Conflict, InvalidInput, NotFound, StemmaError


class RoyaltyError(InvalidInput):
    code = "royalty_error"


class InvalidPeriod(RoyaltyError):
    code = "invalid_period"


class CloseBlocked(Conflict):
    """The close cannot run as configured (no deal in force, a missing FX rate...). Nothing was written."""

    code = "close_blocked"


class PeriodNotClosed(Conflict):
    code = "period_not_closed"


class PayoutInvalid(RoyaltyError):
    code = "payout_invalid"


class PayoutStateConflict(Conflict):
    code = "payout_state_conflict"


class PayeeInvalid(RoyaltyError):
    code = "payee_invalid"


class SettlementNotFound(NotFound):
    code = "settlement_not_found"


class FxRateLocked(Conflict):
    code = "fx_rate_locked"


class DsrInvalid(RoyaltyError):
    """A DDEX DSR file that cannot be read as a whole (header, structure, footer). Nothing was written."""

    code = "dsr_invalid"


class DsrConflict(Conflict):
    """A DSR MessageId already ingested from a different file (a sender never re-uses a MessageId)."""

    code = "dsr_conflict"


class DownloadLinkInvalid(StemmaError):
    """A training download URL that was not signed by us, or names another manifest or recording."""

    code = "download_link_invalid"
    http_status = 403


class DownloadLinkExpired(StemmaError):
    code = "download_link_expired"
    http_status = 410


class RecordingWithdrawn(StemmaError):
    """The recording left the partner's licence (consent withdrawn, deal ended, taken down) after the
    manifest that listed it: the next manifest lists it as a removal."""

    code = "recording_withdrawn"
    http_status = 410
