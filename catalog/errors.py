from config.errors import Conflict, InvalidInput


class SplitInvalid(InvalidInput):
    code = "split_invalid"


class SplitNotRetroactive(Conflict):
    code = "split_retroactive"


class ImportInvalid(InvalidInput):
    code = "import_invalid"


class AudioInvalid(InvalidInput):
    code = "audio_invalid"


class ConsentInvalid(InvalidInput):
    code = "consent_invalid"


class ConsentNotRetroactive(Conflict):
    code = "consent_retroactive"


class SplitNewPartyUnconfirmed(InvalidInput):
    """A split form names a party the label does not have, and the person has not confirmed it is new.
    `fields["new_parties"]` maps each such name to its near matches among the label's parties."""

    code = "split_new_party_unconfirmed"


class LabelInvalid(InvalidInput):
    code = "label_invalid"


class MemberInvalid(InvalidInput):
    code = "member_invalid"
