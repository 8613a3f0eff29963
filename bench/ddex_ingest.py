"""Benchmark: DDEX ingest on PostgreSQL — an ERN batch of 10,000 recordings and a DSR of 1,000,000 records.

    .venv/bin/python bench/ddex_ingest.py                 # both, full size
    .venv/bin/python bench/ddex_ingest.py --only dsr      # one of them
    .venv/bin/python bench/ddex_ingest.py --scale 0.1     # a quick run

ERN: a batch folder (with its BatchComplete marker) of ERN 4.3 NewReleaseMessages, 1,000 releases of 10
sound recordings each (ISRC, title, display artist, duration, a work with ISWC, writers and a publisher,
master rights controllers and publishing work rights controllers with percentages), written by this script
without audio, then imported with `ddex_batch_import` into an empty label; then the same batch again (a
re-delivery: nothing changes). Target: <= 60 s for the import.

DSR: a UGC-profile DSR flat file of 10,000 blocks (one resource each, AS01) with 100 SU03 usage records
each, across three summary records; 90% of resources matched to clips by DspResourceId = external_id and
10% by ISRC only. Each run writes a new message and ingests it with `dsr_ingest` (hash, stream, COPY,
checks, insert), with the usage table emptied between runs. Target: >= 50,000 lines/s.

Uses its own database (recreated on each run): DATABASE_URL if it names a stemma_bench* database, else
postgres://postgres@127.0.0.1:5432/stemma_bench_ddex. Prints medians over --runs runs.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/stemma_bench_ddex"


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("stemma_bench"):
        raise SystemExit(f"refusing to recreate {name!r}: the bench only drops databases named stemma_bench*")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def isrc(n: int) -> str:
    return f"QZBEN{26:02d}{n:05d}"[:12] if n < 100_000 else f"QZBE{n:08d}"[:12]


# ------------------------------------------------------------------------------------------------- DSR


def write_dsr(path: Path, *, message_id: str, n_blocks: int, per_block: int) -> int:
    """A UGC-profile DSR: n_blocks blocks, each one AS01 resource and per_block SU03 records."""
    lines = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:

        def emit(*cells) -> None:
            nonlocal lines
            out.write("\t".join(str(c) for c in cells) + "\n")
            lines += 1

        emit("HEAD", "dsrf/30", "UgcProfile", "1.2", message_id, "2026-11-02T08:00:00Z", 1, 1,
             "2026-10-01", "2026-10-31", "PADPIDA2026BENCH", "Bench AI", "Generated-music", "", "", "")  # fmt: skip
        emit("#SU03", "BlockId", "SalesTransactionId", "SummaryRecordId", "DspResourceId", "Usages",
             "NetRevenue", "ValidityPeriodStart", "ValidityPeriodEnd")  # fmt: skip
        territories = ["DE", "FR", "US"]
        for n, territory in enumerate(territories, start=1):
            emit("SY02.02", n, "", "", "AdvertisementSupportedModel", "Stream", territory, "Generated-music",
                 0, "", "EUR", "0", "", "", "", "", "", "", "Music")  # fmt: skip
        for block in range(1, n_blocks + 1):
            clip = block
            by_isrc = block % 10 == 0
            dsp_id = f"gen-isrc-{clip}" if by_isrc else f"bench-{clip}"
            emit("AS01", block, "R1", dsp_id, isrc(clip), f"Generated {clip}", "", "Bench AI", "", "PT1M",
                 "SoundRecording")  # fmt: skip
            for k in range(per_block):
                day = 1 + (block + k) % 31
                emit("SU03.02", block, f"T{block}-{k}", 1 + k % 3, dsp_id, (block * 7 + k) % 500,
                     f"{((block + k) % 2000) / 10000:.4f}", f"2026-10-{day:02d}", f"2026-10-{day:02d}",
                     "Music", "true")  # fmt: skip
        lines += 1
        out.write("\t".join(["FOOT", str(lines), str(lines), "3", str(n_blocks), str(n_blocks)]) + "\n")
    return lines


def seed_dsr(n_clips: int):
    from django.db import connection, transaction

    from catalog.models import Label, Partner

    with transaction.atomic():
        label = Label.objects.create(name="Bench DSR", slug="bench-dsr")
        partner = Partner.objects.create(name="Bench AI", slug="bench-ai")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY fingerprinting_clip (label_id, partner_id, external_id, title, model_name, model_version, "
                "declared_references, extra, audio, audio_sha256, audio_format, status, reject_code, "
                "reject_message, attempts, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for clip in range(1, n_clips + 1):
                external = f"bench-{clip}" if clip % 10 else f"bench-internal-{clip}"
                extra = f'{{"isrc": "{isrc(clip)}"}}'
                copy.write_row((label.pk, partner.pk, external, "", "", "", "[]", extra, "clips/b.wav", "",
                                "wav", "attributed", "", "", 0, now, now))  # fmt: skip
    return label, partner


def bench_dsr(scale: float, runs: int) -> None:
    from django.db import connection

    from royalties.dsr import dsr_ingest

    n_blocks = max(10, int(10_000 * scale))
    label, partner = seed_dsr(n_blocks)
    rates, seconds = [], []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, runs + 1):
            path = Path(folder) / f"DSR_bench_{run}.tsv"
            lines = write_dsr(path, message_id=f"BENCH-{run}", n_blocks=n_blocks, per_block=100)
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE royalties_usageline")
            started = time.perf_counter()
            with path.open("rb") as source:
                result = dsr_ingest(partner=partner, source=source, label=label)
            elapsed = time.perf_counter() - started
            records = result.usage_records
            rates.append(records / elapsed)
            seconds.append(elapsed)
            print(
                f"  run {run}: {lines:,} lines ({path.stat().st_size / 1e6:.0f} MB), {records:,} usage records: "
                f"{result.accepted:,} accepted, {result.rejected} rejected in {elapsed:.2f} s "
                f"= {records / elapsed:,.0f} lines/s"
            )
            assert result.accepted == records, result.rejections[:5]
            started = time.perf_counter()
            with path.open("rb") as source:
                replay = dsr_ingest(partner=partner, source=source, label=label)
            assert replay.replayed and replay.accepted == 0
            print(f"  replay of run {run}: nothing added, answered in {time.perf_counter() - started:.2f} s")
    print(
        f"DSR ingest: median {statistics.median(rates):,.0f} lines/s, {statistics.median(seconds):.2f} s for "
        f"{n_blocks * 100:,} usage records (target >= 50,000 lines/s)"
    )
    # The same lines, already built, through the CSV's bulk path (usage_ingest_copy, as bench/close_period.py
    # measures it), in the same conditions: the machine is shared, so the comparison is the fair figure.
    from decimal import Decimal

    from fingerprinting.models import Clip
    from royalties.ingest import usage_ingest_copy

    clip_ids = dict(Clip.objects.filter(partner=partner).values_list("external_id", "id"))
    rows = [
        (f"CSV-{block}-{k}", clip_ids[f"bench-{block if block % 10 else 1}"], date(2026, 10, 1 + (block + k) % 31),
         ("DE", "FR", "US")[k % 3], (block * 7 + k) % 500, Decimal((block + k) % 2000).scaleb(-4), "EUR", "usage")
        for block in range(1, n_blocks + 1)
        for k in range(100)
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE royalties_usageline")
    started = time.perf_counter()
    result = usage_ingest_copy(partner=partner, lines=rows)
    elapsed = time.perf_counter() - started
    assert result.accepted == len(rows)
    print(
        f"CSV bulk path (prebuilt rows, same conditions): {len(rows) / elapsed:,.0f} rows/s ({elapsed:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = 10,000 recordings / 1,000,000 records"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["ern", "dsr"])
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if "stemma_bench" not in url:
        url = DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    recreate_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.only in (None, "ern"):
        bench_ern(args.scale, args.runs)
    if args.only in (None, "dsr"):
        bench_dsr(args.scale, args.runs)


# ------------------------------------------------------------------------------------------------- ERN

ERN_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" ReleaseProfileVersionId="Audio" AvsVersionId="4" LanguageAndScriptCode="en">
  <MessageHeader>
    <MessageId>BENCH-{release:05d}</MessageId>
    <MessageSender><PartyId>PADPIDA2026BENCH</PartyId><PartyName><FullName>Bench Records</FullName></PartyName></MessageSender>
    <MessageRecipient><PartyId>PADPIDA2026STEMMA</PartyId><PartyName><FullName>Stemma</FullName></PartyName></MessageRecipient>
    <MessageCreatedDateTime>2026-11-01T09:00:00Z</MessageCreatedDateTime>
    <MessageControlType>LiveMessage</MessageControlType>
  </MessageHeader>
  <PartyList>
{parties}  </PartyList>
  <ResourceList>
"""
ERN_PARTY = """    <Party><PartyReference>{ref}</PartyReference><PartyName><FullName>{name}</FullName></PartyName>{ids}</Party>
"""
ERN_RECORDING = """    <SoundRecording>
      <ResourceReference>A{track}</ResourceReference>
      <Type>MusicalWorkSoundRecording</Type>
      <SoundRecordingEdition><ResourceId><ISRC>{isrc}</ISRC></ResourceId></SoundRecordingEdition>
      <WorkId><ISWC>{iswc}</ISWC></WorkId>
      <DisplayTitleText>Bench song {n}</DisplayTitleText>
      <DisplayTitle><TitleText>Bench song {n}</TitleText></DisplayTitle>
      <DisplayArtistName>Bench Artist {release}</DisplayArtistName>
      <DisplayArtist><ArtistPartyReference>PArtist</ArtistPartyReference><DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>
      <Contributor><ContributorPartyReference>PW{w1}</ContributorPartyReference><Role>Composer</Role></Contributor>
      <Contributor><ContributorPartyReference>PW{w2}</ContributorPartyReference><Role>Lyricist</Role></Contributor>
      <ResourceRightsController><RightsControllerPartyReference>PLabel</RightsControllerPartyReference><RightSharePercentage>80</RightSharePercentage></ResourceRightsController>
      <ResourceRightsController><RightsControllerPartyReference>PArtist</RightsControllerPartyReference><RightSharePercentage>20</RightSharePercentage></ResourceRightsController>
      <WorkRightsController><RightsControllerPartyReference>PPub{p}</RightsControllerPartyReference><RightSharePercentage>50</RightSharePercentage></WorkRightsController>
      <WorkRightsController><RightsControllerPartyReference>PW{w1}</RightsControllerPartyReference><RightSharePercentage>25</RightSharePercentage></WorkRightsController>
      <WorkRightsController><RightsControllerPartyReference>PW{w2}</RightsControllerPartyReference><RightSharePercentage>25</RightSharePercentage></WorkRightsController>
      <Duration>PT3M{seconds:02d}S</Duration>
      <ParentalWarningType>NotExplicit</ParentalWarningType>
    </SoundRecording>
"""
ERN_TAIL = """  </ResourceList>
  <ReleaseList>
    <Release>
      <ReleaseReference>R0</ReleaseReference>
      <ReleaseType>Album</ReleaseType>
      <ReleaseId><ICPN>{icpn}</ICPN></ReleaseId>
      <DisplayTitleText>Bench album {release}</DisplayTitleText>
      <DisplayTitle><TitleText>Bench album {release}</TitleText></DisplayTitle>
      <DisplayArtistName>Bench Artist {release}</DisplayArtistName>
      <DisplayArtist><ArtistPartyReference>PArtist</ArtistPartyReference><DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>
      <ReleaseLabelReference>PLabel</ReleaseLabelReference>
      <Genre><GenreText>Pop</GenreText></Genre>
      <ParentalWarningType>NotExplicit</ParentalWarningType>
      <ResourceGroup>
{items}      </ResourceGroup>
    </Release>
  </ReleaseList>
  <DealList>
    <ReleaseDeal>
      <DealReleaseReference>R0</DealReleaseReference>
      <Deal><DealTerms><TerritoryCode>Worldwide</TerritoryCode><ValidityPeriod><StartDate>2026-11-20</StartDate></ValidityPeriod><CommercialModelType>SubscriptionModel</CommercialModelType><UseType>OnDemandStream</UseType></DealTerms></Deal>
    </ReleaseDeal>
  </DealList>
</ern:NewReleaseMessage>
"""


def write_ern_batch(folder: Path, n_releases: int, tracks: int) -> int:
    """A batch folder of ERN 4.3 messages (one release of `tracks` recordings each) with its marker."""
    from catalog.identifiers import ipi_name_check_digits, iswc_check_digit

    def ipi(n: int) -> str:
        nine = f"{n:09d}"
        return nine + f"{ipi_name_check_digits(nine):02d}"

    n_writers, n_publishers = 2_000, 50
    for release in range(1, n_releases + 1):
        first = (release - 1) * tracks
        writers = sorted(
            {(first + t) % n_writers for t in range(tracks)}
            | {(first + t + 7) % n_writers for t in range(tracks)}
        )
        publishers = sorted({(first + t) % n_publishers for t in range(tracks)})
        parties = ERN_PARTY.format(ref="PArtist", name=f"Bench Artist {release}", ids="")
        parties += ERN_PARTY.format(
            ref="PLabel", name="Bench Records", ids="<PartyId><DPID>PADPIDA2026BENCH</DPID></PartyId>"
        )
        for w in writers:
            parties += ERN_PARTY.format(
                ref=f"PW{w}",
                name=f"Writer {w}",
                ids=f"<PartyId><IpiNameNumber>{ipi(100_000 + w)}</IpiNameNumber></PartyId>",
            )
        for p in publishers:
            parties += ERN_PARTY.format(
                ref=f"PPub{p}",
                name=f"Publisher {p}",
                ids=f"<PartyId><IpiNameNumber>{ipi(900_000 + p)}</IpiNameNumber></PartyId>",
            )
        body = [ERN_HEAD.format(release=release, parties=parties)]
        items = ""
        for t in range(1, tracks + 1):
            n = first + t
            nine = f"{200_000_000 + n:09d}"
            body.append(ERN_RECORDING.format(
                track=t, isrc=isrc(n), iswc=f"T{nine}{iswc_check_digit(nine)}", n=n, release=release,
                w1=(first + t - 1) % n_writers, w2=(first + t - 1 + 7) % n_writers, p=(first + t - 1) % n_publishers,
                seconds=n % 60,
            ))  # fmt: skip
            items += f"        <ResourceGroupContentItem><SequenceNumber>{t}</SequenceNumber><ReleaseResourceReference>A{t}</ReleaseResourceReference></ResourceGroupContentItem>\n"
        body.append(ERN_TAIL.format(release=release, icpn=f"40{release:011d}", items=items))
        target = folder / f"R{release:05d}"
        target.mkdir(parents=True)
        (target / f"R{release:05d}.xml").write_text("".join(body), encoding="utf-8")
    (folder / "BatchComplete_20261101090000.xml").write_text("<ManifestMessage/>\n")
    return n_releases * tracks


def bench_ern(scale: float, runs: int) -> None:
    from catalog.ddex.batch import batch_messages
    from catalog.ddex.ingest import ddex_import
    from catalog.models import Label

    n_releases = max(2, int(1_000 * scale))
    seconds, again_seconds = [], []
    with tempfile.TemporaryDirectory() as folder:
        batch = Path(folder) / "batch-20261101090000"
        started = time.perf_counter()
        recordings = write_ern_batch(batch, n_releases, tracks=10)
        size = sum(p.stat().st_size for p in batch.rglob("*.xml"))
        print(f"  wrote {n_releases:,} messages ({recordings:,} recordings, {size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        for run in range(1, runs + 1):
            label = Label.objects.create(name=f"Bench ERN {run}", slug=f"bench-ern-{run}")
            started = time.perf_counter()
            report = ddex_import(label=label, paths=batch_messages(batch), root=batch)
            elapsed = time.perf_counter() - started
            assert report.ok and report.recordings_created == recordings, report.problems[:5]
            seconds.append(elapsed)
            print(f"  run {run}: {report.applied:,} messages, {report.recordings_created:,} recordings, "
                  f"{report.parties_created:,} parties, {report.splits_created:,} split versions in {elapsed:.2f} s")  # fmt: skip
            started = time.perf_counter()
            again = ddex_import(label=label, paths=batch_messages(batch), root=batch)
            again_seconds.append(time.perf_counter() - started)
            assert again.redelivered == n_releases and again.applied == 0
    print(
        f"ERN import: median {statistics.median(seconds):.2f} s for {recordings:,} recordings "
        f"({recordings / statistics.median(seconds):,.0f} recordings/s; target <= 60 s); re-delivery (nothing "
        f"changes) {statistics.median(again_seconds):.2f} s"
    )


if __name__ == "__main__":
    main()
