"""Read an ERN NewReleaseMessage (4.3, or 3.8 which is still widely delivered) into plain records.

Element names follow the standard (ERN 4.3: release-notification.xsd of ern/43; ERN 3.8: of ern/38). Only
what Stemma stores is read; docs/ddex.md lists the mapping and what is ignored. Every value keeps the
XPath and line of the element it came from, so a problem found later (here, in the catalog import's
checks or in the audio hash check) points at the element to fix.

Update and takedown semantics (ERN Part 1, 6.19, and the 3.8 DealTerms):
- ERN 3.8: `UpdateIndicator` is OriginalMessage or UpdateMessage; `DealTerms/TakeDown` true takes the
  deal's releases down.
- ERN 4.3: every NewReleaseMessage is a complete description of its release; a release re-sent with no
  Deal, or only with deals whose EndDate has passed, is taken down.
- Both: `MessageControlType` TestMessage is validated and never written.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

import isodate

from catalog.ddex.safexml import XmlDocument
from catalog.models import PartyKind, RightType

NAMESPACES = {
    "http://ddex.net/xml/ern/43": "4.3",
    "http://ddex.net/xml/ern/38": "3.8",
    "http://ddex.net/xml/ern/381": "3.8",
    "http://ddex.net/xml/ern/382": "3.8",
    "http://ddex.net/xml/ern/383": "3.8",
}
WRITER_ROLES = {"Composer", "Lyricist", "ComposerLyricist", "Author", "Writer", "Librettist", "Arranger"}
PUBLISHER_ROLES = {"MusicPublisher", "OriginalPublisher", "SubPublisher", "Publisher"}
HASH_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "SHA-1": "sha1", "SHA256": "sha256", "SHA-256": "sha256",
                   "SHA512": "sha512", "SHA-512": "sha512"}  # fmt: skip


@dataclass(frozen=True)
class Source:
    xpath: str
    line: int


@dataclass
class Problem:
    source: Source
    reason: str
    isrc: str = ""


@dataclass
class ErnParty:
    name: str
    ipi: str = ""
    isni: str = ""
    kind: str = PartyKind.ARTIST
    source: Source = Source("", 0)


@dataclass
class ErnShare:
    party: ErnParty
    right_type: str
    share: str  # a fraction as text, checked by the catalog import
    effective_from: date | None
    source: Source
    # True when the rights themselves carry the date (a StartDate of the rights controller or right
    # share); otherwise it is the deal's start, and an update that changes the shares takes effect on the
    # date of its message instead (ingest decides, knowing the versions already stored).
    explicit_date: bool = False


@dataclass
class ErnAudio:
    uri: str
    algorithm: str  # hashlib name, "" when no HashSum was given
    hash_value: str
    declared_size: int | None
    source: Source


@dataclass
class ErnRecording:
    reference: str
    isrc: str
    title: str
    display_artist: str
    duration_seconds: float | None
    iswc: str = ""
    work_title: str = ""
    audio: ErnAudio | None = None
    shares: list[ErnShare] = field(default_factory=list)
    parties: list[ErnParty] = field(default_factory=list)  # artists, writers, publishers without a share
    sources: dict[str, Source] = field(default_factory=dict)  # field name -> where it came from
    source: Source = Source("", 0)


@dataclass
class ErnMessage:
    message_id: str
    version: str
    created: datetime | None
    control_type: str  # LiveMessage, TestMessage or ""
    update_indicator: str  # 3.8 only: OriginalMessage, UpdateMessage or ""
    sender: str
    recordings: list[ErnRecording] = field(default_factory=list)
    taken_down: set[str] = field(default_factory=set)  # resource references taken down by this message
    available: set[str] = field(default_factory=set)  # resource references with a deal in force
    problems: list[Problem] = field(default_factory=list)
    header_source: Source = Source("", 0)

    @property
    def is_test(self) -> bool:
        return self.control_type == "TestMessage"


class _Reader:
    def __init__(self, doc: XmlDocument):
        self.doc = doc
        self.problems: list[Problem] = []

    def src(self, element: Element | None) -> Source:
        return Source(self.doc.path(element), self.doc.line(element))

    def text(self, element: Element | None, path: str) -> tuple[str, Element | None]:
        found = element.find(path) if element is not None else None
        return ((found.text or "").strip() if found is not None else ""), found

    def problem(self, element: Element | None, reason: str, isrc: str = "") -> None:
        self.problems.append(Problem(self.src(element), reason, isrc))

    def duration(self, element: Element | None, isrc: str) -> float | None:
        if element is None or not (element.text or "").strip():
            return None
        try:
            value = isodate.parse_duration(element.text.strip())
            seconds = value.total_seconds()
        except (isodate.ISO8601Error, ValueError, AttributeError, TypeError):
            self.problem(
                element, f"Duration {element.text.strip()!r} is not an ISO 8601 duration (PT3M25S)", isrc
            )
            return None
        if not 0 < seconds < 24 * 3600:
            self.problem(element, f"Duration {element.text.strip()!r} is not between 0 and 24 hours", isrc)
            return None
        return round(seconds, 3)

    def day(self, element: Element | None) -> date | None:
        text = (element.text or "").strip() if element is not None else ""
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            self.problem(element, f"{text!r} is not a date (YYYY-MM-DD)")
            return None

    def share(self, element: Element | None, isrc: str) -> str | None:
        """RightSharePercentage as a fraction: '25' is a quarter, unless HasMaxValueOfOne (then 0.25)."""
        if element is None:
            return None
        raw = (element.text or "").strip()
        try:
            value = Decimal(raw)
            if not value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.problem(element, f"RightSharePercentage {raw!r} is not a number", isrc)
            return None
        if element.get("HasMaxValueOfOne", "").lower() != "true":
            value = value.scaleb(-2)
        return format(value.normalize(), "f")

    def audio(self, uri_el, hash_el, alg_el, size_el, owner, isrc) -> ErnAudio | None:
        uri = (uri_el.text or "").strip() if uri_el is not None else ""
        if not uri:
            return None
        algorithm, hash_value = "", ""
        if hash_el is not None:
            name = (alg_el.text or "").strip().upper() if alg_el is not None else ""
            algorithm = HASH_ALGORITHMS.get(name, "")
            hash_value = (hash_el.text or "").strip().lower()
            if not algorithm:
                self.problem(alg_el if alg_el is not None else hash_el,
                             f"hash algorithm {name!r} is not one of {', '.join(sorted(HASH_ALGORITHMS))}", isrc)  # fmt: skip
        size = None
        if size_el is not None and (size_el.text or "").strip():
            try:
                size = int(Decimal(size_el.text.strip()))
            except (InvalidOperation, ValueError):
                self.problem(size_el, f"FileSize {size_el.text.strip()!r} is not a number", isrc)
        return ErnAudio(uri, algorithm, hash_value, size, self.src(uri_el if uri_el is not None else owner))


def _first_default(elements: list[Element]) -> Element | None:
    """The element marked IsDefault="true", else the first."""
    for element in elements:
        if element.get("IsDefault", "").lower() == "true":
            return element
    return elements[0] if elements else None


def _kind_for_roles(roles: list[str], default: str = PartyKind.ARTIST) -> str:
    if any(role in PUBLISHER_ROLES for role in roles):
        return PartyKind.PUBLISHER
    if any(role in WRITER_ROLES for role in roles):
        return PartyKind.WRITER
    return default


def read_message(doc: XmlDocument) -> ErnMessage:
    """The message's records and the problems found reading it (an unknown version is one problem)."""
    root = doc.root
    reader = _Reader(doc)
    version = NAMESPACES.get(doc.namespace, "")
    if not version:
        schema = root.get("MessageSchemaVersionId", "")
        version = {"ern/43": "4.3", "ern/38": "3.8", "ern/382": "3.8", "ern/383": "3.8"}.get(schema, "")
    header = root.find("MessageHeader")
    message_id, id_el = reader.text(header, "MessageId")
    created_text, created_el = reader.text(header, "MessageCreatedDateTime")
    control, _ = reader.text(header, "MessageControlType")
    sender, _ = reader.text(header, "MessageSender/PartyName/FullName")
    if not sender:
        sender, _ = reader.text(header, "MessageSender/PartyId")
    message = ErnMessage(
        message_id=message_id,
        version=version,
        created=None,
        control_type=control,
        update_indicator=reader.text(root, "UpdateIndicator")[0],
        sender=sender,
        header_source=reader.src(header if header is not None else root),
    )
    if root.tag != "NewReleaseMessage":
        reader.problem(root, f"the root element is {root.tag}; only NewReleaseMessage is read")
    elif not version:
        reader.problem(root, f"namespace {doc.namespace!r} is not ERN 4.3 or 3.8")
    if not message_id:
        reader.problem(id_el if id_el is not None else header if header is not None else root,
                       "MessageHeader/MessageId is missing")  # fmt: skip
    elif len(message_id) > 100:
        reader.problem(id_el, "MessageId is longer than 100 characters")
    try:
        message.created = datetime.fromisoformat(created_text.replace("Z", "+00:00"))
    except ValueError:
        reader.problem(created_el if created_el is not None else header,
                       f"MessageCreatedDateTime {created_text!r} is not a date-time")  # fmt: skip
    if not reader.problems and version:
        (_read_43 if version == "4.3" else _read_38)(reader, root, message)
    message.problems = reader.problems
    return message


# ---------------------------------------------------------------------------------------------- 4.3


def _party_43(reader: _Reader, party: Element) -> ErnParty:
    name_el = _first_default(party.findall("PartyName"))
    name, _ = reader.text(name_el, "FullName")
    isni, _ = reader.text(party, "PartyId/ISNI")
    ipi, _ = reader.text(party, "PartyId/IpiNameNumber")
    return ErnParty(name=name, ipi=ipi, isni=isni, source=reader.src(party))


def _deal_periods(reader: _Reader, root: Element, message_day: date | None, version: str):
    """{release reference: [(start, end, take_down, element)]} from the DealList."""
    deals: dict[str, list[tuple[date | None, date | None, bool, Element]]] = {}
    for release_deal in root.findall("DealList/ReleaseDeal"):
        references = [(el.text or "").strip() for el in release_deal.findall("DealReleaseReference")]
        effective = reader.day(release_deal.find("EffectiveDate"))
        for deal in release_deal.findall("Deal"):
            terms = deal.find("DealTerms")
            if terms is None:
                continue
            take_down = (reader.text(terms, "TakeDown")[0].lower() == "true") if version == "3.8" else False
            starts, ends = [], []
            for period in terms.findall("ValidityPeriod"):
                start = reader.day(period.find("StartDate")) or reader.day(period.find("StartDateTime"))
                end = reader.day(period.find("EndDate")) or reader.day(period.find("EndDateTime"))
                starts.append(start or effective)
                ends.append(end)
            start = min((s for s in starts if s), default=effective)
            end = None if any(e is None for e in ends) or not ends else max(ends)
            for reference in references:
                deals.setdefault(reference, []).append((start, end, take_down, deal))
    return deals


def _release_resources(root: Element, version: str) -> dict[str, set[str]]:
    """{release reference: resource references it contains}."""
    releases: dict[str, set[str]] = {}
    if version == "4.3":
        for release in root.findall("ReleaseList/Release"):
            ref = (release.findtext("ReleaseReference") or "").strip()
            releases[ref] = {
                (el.text or "").strip() for el in release.iter("ReleaseResourceReference") if el.text
            }
        for track in root.findall("ReleaseList/TrackRelease"):
            ref = (track.findtext("ReleaseReference") or "").strip()
            releases[ref] = {(track.findtext("ReleaseResourceReference") or "").strip()}
    else:
        for release in root.findall("ReleaseList/Release"):
            for ref_el in release.findall("ReleaseReference"):
                releases[(ref_el.text or "").strip()] = {
                    (el.text or "").strip()
                    for el in release.findall("ReleaseResourceReferenceList/ReleaseResourceReference")
                }
    return releases


def _apply_deals(reader: _Reader, root: Element, message: ErnMessage) -> dict[str, date]:
    """Marks taken-down and available resources; {resource reference: deal start} for split dates."""
    message_day = message.created.date() if message.created else None
    deals = _deal_periods(reader, root, message_day, message.version)
    releases = _release_resources(root, message.version)
    starts: dict[str, date] = {}
    for release_ref, resources in releases.items():
        release_deals = deals.get(release_ref, [])
        in_force = [
            d for d in release_deals if not d[2] and (d[1] is None or not message_day or d[1] >= message_day)
        ]
        explicit = any(d[2] for d in release_deals)
        ended = bool(release_deals) and not in_force
        # ERN 3.8: DealTerms/TakeDown. ERN 4 (Part 1, 6.19.4): a release re-sent with no Deal, or only
        # with ended deals, is taken down.
        down = explicit if message.version == "3.8" else (not release_deals or ended)
        for resource in resources:
            if down:
                message.taken_down.add(resource)
            elif in_force:
                message.available.add(resource)
            for start, _, take_down, _ in release_deals:
                if start and not take_down and (resource not in starts or start < starts[resource]):
                    starts[resource] = start
    # A resource available through any release of the message is not taken down by another.
    message.taken_down -= message.available
    return starts


def _read_43(reader: _Reader, root: Element, message: ErnMessage) -> None:
    parties: dict[str, ErnParty] = {}
    for party in root.findall("PartyList/Party"):
        reference = (party.findtext("PartyReference") or "").strip()
        parties[reference] = _party_43(reader, party)
    deal_starts = _apply_deals(reader, root, message)
    message_day = message.created.date() if message.created else None
    # A party's kind comes from its roles in the message (a writer stays a writer when it also controls
    # a share); a rights controller with no role is a rights holder (master) or a publisher (work).
    role_kinds: dict[str, str] = {}
    for sr in root.findall("ResourceList/SoundRecording"):
        for artist in sr.findall("DisplayArtist"):
            role_kinds.setdefault((artist.findtext("ArtistPartyReference") or "").strip(), PartyKind.ARTIST)
        for contributor in sr.findall("Contributor"):
            roles = [(r.get("UserDefinedValue") or r.text or "").strip() for r in contributor.findall("Role")]
            kind = _kind_for_roles(roles)
            reference = (contributor.findtext("ContributorPartyReference") or "").strip()
            if kind != PartyKind.ARTIST or reference not in role_kinds:
                role_kinds[reference] = kind

    def party_for(ref_el: Element | None, kind: str, isrc: str) -> ErnParty | None:
        reference = (ref_el.text or "").strip() if ref_el is not None else ""
        party = parties.get(reference)
        if party is None:
            reader.problem(ref_el, f"party reference {reference!r} is not in the PartyList", isrc)
            return None
        if not party.name:
            reader.problem(ref_el, f"party {reference!r} has no PartyName/FullName", isrc)
            return None
        return ErnParty(party.name, party.ipi, party.isni, role_kinds.get(reference, kind), party.source)

    for sr in root.findall("ResourceList/SoundRecording"):
        reference = (sr.findtext("ResourceReference") or "").strip()
        isrc_el = None
        for edition in sr.findall("SoundRecordingEdition"):
            isrc_el = edition.find("ResourceId/ISRC")
            if isrc_el is not None:
                break
        isrc = (isrc_el.text or "").strip() if isrc_el is not None else ""
        if isrc_el is None:
            reader.problem(sr, "SoundRecordingEdition/ResourceId/ISRC is missing")
        title_el = _first_default(sr.findall("DisplayTitleText"))
        artist_el = _first_default(sr.findall("DisplayArtistName"))
        duration_el = sr.find("Duration")
        work_el = sr.find("WorkId/ISWC")
        recording = ErnRecording(
            reference=reference,
            isrc=isrc,
            title=(title_el.text or "").strip() if title_el is not None else "",
            display_artist=(artist_el.text or "").strip() if artist_el is not None else "",
            duration_seconds=reader.duration(duration_el, isrc),
            iswc=(work_el.text or "").strip() if work_el is not None else "",
            source=reader.src(sr),
        )
        recording.sources = {
            "isrc": reader.src(isrc_el if isrc_el is not None else sr),
            "title": reader.src(title_el if title_el is not None else sr),
            "display_artist": reader.src(artist_el if artist_el is not None else sr),
            "duration": reader.src(duration_el if duration_el is not None else sr),
            "iswc": reader.src(work_el if work_el is not None else sr),
        }
        for artist in sr.findall("DisplayArtist"):
            party = party_for(artist.find("ArtistPartyReference"), PartyKind.ARTIST, isrc)
            if party:
                recording.parties.append(party)
        if not recording.display_artist:
            recording.display_artist = " & ".join(p.name for p in recording.parties)
        for contributor in sr.findall("Contributor"):
            roles = [(r.get("UserDefinedValue") or r.text or "").strip() for r in contributor.findall("Role")]
            party = party_for(contributor.find("ContributorPartyReference"), _kind_for_roles(roles), isrc)
            if party:
                recording.parties.append(party)
        master_start = deal_starts.get(reference) or message_day
        for controller in sr.findall("ResourceRightsController"):
            share = reader.share(controller.find("RightSharePercentage"), isrc)
            if share is None:
                continue  # RightShareUnknown: no split can be made from an unknown share
            party = party_for(
                controller.find("RightsControllerPartyReference"), PartyKind.RIGHTS_HOLDER, isrc
            )
            if party:
                recording.shares.append(
                    ErnShare(party, RightType.MASTER, share, master_start, reader.src(controller))
                )
        for controller in sr.findall("WorkRightsController"):
            share = reader.share(controller.find("RightSharePercentage"), isrc)
            if share is None:
                continue
            party = party_for(controller.find("RightsControllerPartyReference"), PartyKind.PUBLISHER, isrc)
            if party:
                start = reader.day(controller.find("StartDate"))
                recording.shares.append(
                    ErnShare(party, RightType.PUBLISHING, share, start or master_start, reader.src(controller),
                             explicit_date=start is not None)
                )  # fmt: skip
        for details in sr.findall("SoundRecordingEdition/TechnicalDetails"):
            for delivery in details.findall("DeliveryFile"):
                if (delivery.findtext("IsProvidedInDelivery") or "true").strip().lower() == "false":
                    continue
                file_el = delivery.find("File")
                if file_el is None:
                    continue
                recording.audio = reader.audio(
                    file_el.find("URI"), file_el.find("HashSum/HashSumValue"),
                    file_el.find("HashSum/Algorithm"), file_el.find("FileSize"), file_el, isrc,
                )  # fmt: skip
                break
            if recording.audio:
                break
        message.recordings.append(recording)


# ---------------------------------------------------------------------------------------------- 3.8


def _party_38(reader: _Reader, element: Element, kind: str) -> ErnParty:
    name, _ = reader.text(element, "PartyName/FullName")
    ipi = isni = ""
    for party_id in element.findall("PartyId"):
        value = (party_id.text or "").strip()
        namespace = party_id.get("Namespace", "").upper()
        if party_id.get("IsISNI", "").lower() == "true" or namespace == "ISNI":
            isni = value
        elif "IPI" in namespace:
            ipi = value
    if not name:
        name = isni or ipi
    return ErnParty(name=name, ipi=ipi, isni=isni, kind=kind, source=reader.src(element))


def _read_38(reader: _Reader, root: Element, message: ErnMessage) -> None:
    deal_starts = _apply_deals(reader, root, message)
    message_day = message.created.date() if message.created else None
    works: dict[str, dict] = {}
    for work in root.findall("WorkList/MusicalWork"):
        reference = (work.findtext("MusicalWorkReference") or "").strip()
        iswc, _ = reader.text(work, "MusicalWorkId/ISWC")
        title, _ = reader.text(work, "ReferenceTitle/TitleText")
        contributors = []
        for contributor in work.findall("MusicalWorkContributor"):
            roles = [(r.get("UserDefinedValue") or r.text or "").strip()
                     for r in contributor.findall("MusicalWorkContributorRole")]  # fmt: skip
            contributors.append(_party_38(reader, contributor, _kind_for_roles(roles, PartyKind.WRITER)))
        shares = []
        for right_share in work.findall("RightShare"):
            controllers = right_share.findall("RightsController")
            percentage = right_share.find("RightSharePercentage")
            if percentage is None:
                continue
            if len(controllers) != 1:
                reader.problem(
                    right_share, "a RightShare needs exactly one RightsController to become a split share"
                )
                continue
            validity = right_share.find("ValidityPeriod")
            start = reader.day(validity.find("StartDate")) if validity is not None else None
            controller = _party_38(reader, controllers[0], PartyKind.PUBLISHER)
            controller.kind = next(
                (
                    c.kind
                    for c in contributors
                    if (c.ipi and c.ipi == controller.ipi) or c.name == controller.name
                ),
                controller.kind,
            )
            shares.append((controller, percentage, start, right_share))
        works[reference] = {"iswc": iswc, "title": title, "contributors": contributors, "shares": shares}
    works_by_iswc = {w["iswc"]: w for w in works.values() if w["iswc"]}

    for sr in root.findall("ResourceList/SoundRecording"):
        reference = (sr.findtext("ResourceReference") or "").strip()
        isrc_el = sr.find("SoundRecordingId/ISRC")
        isrc = (isrc_el.text or "").strip() if isrc_el is not None else ""
        if isrc_el is None:
            reader.problem(sr, "SoundRecordingId/ISRC is missing")
        title_el = sr.find("ReferenceTitle/TitleText")
        all_details = sr.findall("SoundRecordingDetailsByTerritory")
        details = next(
            (d for d in all_details if (d.findtext("TerritoryCode") or "").strip() == "Worldwide"),
            all_details[0] if all_details else None,
        )
        display_el = None
        if details is not None:
            titles = details.findall("Title")
            display_el = next((t for t in titles if t.get("TitleType") == "DisplayTitle"), None)
            if display_el is not None:
                title_el = display_el.find("TitleText")
        artist_el = details.find("DisplayArtistName") if details is not None else None
        duration_el = sr.find("Duration")
        iswc_el = sr.find("IndirectSoundRecordingId/ISWC")
        recording = ErnRecording(
            reference=reference,
            isrc=isrc,
            title=(title_el.text or "").strip() if title_el is not None else "",
            display_artist=(artist_el.text or "").strip() if artist_el is not None else "",
            duration_seconds=reader.duration(duration_el, isrc),
            iswc=(iswc_el.text or "").strip() if iswc_el is not None else "",
            source=reader.src(sr),
        )
        recording.sources = {
            "isrc": reader.src(isrc_el if isrc_el is not None else sr),
            "title": reader.src(title_el if title_el is not None else sr),
            "display_artist": reader.src(artist_el if artist_el is not None else sr),
            "duration": reader.src(duration_el if duration_el is not None else sr),
            "iswc": reader.src(iswc_el if iswc_el is not None else sr),
        }
        master_start = deal_starts.get(reference) or message_day
        if details is not None:
            for artist in details.findall("DisplayArtist"):
                recording.parties.append(_party_38(reader, artist, PartyKind.ARTIST))
            for contributor in details.findall("ResourceContributor"):
                roles = [(r.get("UserDefinedValue") or r.text or "").strip()
                         for r in contributor.findall("ResourceContributorRole")]  # fmt: skip
                recording.parties.append(_party_38(reader, contributor, _kind_for_roles(roles)))
            for contributor in details.findall("IndirectResourceContributor"):
                roles = [(r.get("UserDefinedValue") or r.text or "").strip()
                         for r in contributor.findall("IndirectResourceContributorRole")]  # fmt: skip
                recording.parties.append(
                    _party_38(reader, contributor, _kind_for_roles(roles, PartyKind.WRITER))
                )
            if not recording.display_artist:
                recording.display_artist = " & ".join(
                    p.name for p in recording.parties if p.kind == PartyKind.ARTIST
                )
            for controller in details.findall("RightsController"):
                share = reader.share(controller.find("RightSharePercentage"), isrc)
                if share is None:
                    continue
                start = reader.day(controller.find("StartDate"))
                holder = _party_38(reader, controller, PartyKind.RIGHTS_HOLDER)
                holder.kind = next(
                    (
                        p.kind
                        for p in recording.parties
                        if (p.isni and p.isni == holder.isni) or p.name == holder.name
                    ),
                    holder.kind,
                )
                recording.shares.append(
                    ErnShare(holder, RightType.MASTER, share, start or master_start, reader.src(controller),
                             explicit_date=start is not None)
                )  # fmt: skip
            for technical in details.findall("TechnicalSoundRecordingDetails"):
                if (technical.findtext("IsPreview") or "").strip().lower() == "true":
                    continue
                file_el = technical.find("File")
                if file_el is None:
                    continue
                name_el, path_el = file_el.find("FileName"), file_el.find("FilePath")
                uri_el = name_el if name_el is not None else file_el.find("URL")
                if uri_el is not None and path_el is not None and (path_el.text or "").strip():
                    uri_el = Element("FileName")
                    uri_el.text = f"{(path_el.text or '').strip().rstrip('/')}/{(name_el.text or '').strip()}"
                    reader.doc.paths[uri_el] = reader.doc.path(name_el)
                    reader.doc.lines[uri_el] = reader.doc.line(name_el)
                recording.audio = reader.audio(
                    uri_el, file_el.find("HashSum/HashSum"), file_el.find("HashSum/HashSumAlgorithmType"),
                    None, file_el, isrc,
                )  # fmt: skip
                if recording.audio:
                    break
        # The work: linked by reference (ResourceMusicalWorkReferenceList), else by the ISWC.
        work = None
        for ref_el in sr.findall("ResourceMusicalWorkReferenceList/ResourceMusicalWorkReference"):
            work = works.get((ref_el.findtext("ResourceMusicalWorkReference") or "").strip())
            if work:
                break
        work = work or works_by_iswc.get(recording.iswc)
        if work:
            recording.iswc = recording.iswc or work["iswc"]
            recording.work_title = work["title"]
            recording.parties.extend(work["contributors"])
            for party, percentage, start, element in work["shares"]:
                share = reader.share(percentage, isrc)
                if share is not None:
                    recording.shares.append(
                        ErnShare(party, RightType.PUBLISHING, share, start or master_start, reader.src(element),
                                 explicit_date=start is not None)
                    )  # fmt: skip
        message.recordings.append(recording)
