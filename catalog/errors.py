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
