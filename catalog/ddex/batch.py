"""Batch folders and zips of them, as the DDEX ERN choreography delivers them.

A batch folder holds one folder per release (the message XML and its resources) and, once the sender has
uploaded everything, a completion marker `BatchComplete_<BatchId>.xml` at its top (ERN Part 3,
choreography for file transfer). A batch without its marker is still being written and is not read.
"""

import stat
import zipfile
from pathlib import Path, PurePosixPath

BATCH_MARKER = "BatchComplete_*.xml"
MAX_ZIP_MEMBERS = 100_000  # files in one uploaded batch (a 10,000-release batch with audio is ~40,000)
COPY_BLOCK = 1 << 20


class BatchInvalid(ValueError):
    pass


def batch_markers(folder: Path) -> list[Path]:
    return sorted(folder.glob(BATCH_MARKER))


def batch_messages(folder: Path) -> list[Path]:
    """The message files of a complete batch folder (sorted); BatchInvalid if it is not complete."""
    if not folder.is_dir():
        raise BatchInvalid(f"{folder} is not a folder")
    if not batch_markers(folder):
        raise BatchInvalid(
            f"{folder} has no completion marker (BatchComplete_<BatchId>.xml): the batch is incomplete "
            "and was not read"
        )
    markers = {p.resolve() for p in batch_markers(folder)}
    return sorted(
        p for p in folder.rglob("*.xml") if p.is_file() and not p.is_symlink() and p.resolve() not in markers
    )


def zip_extract(source, destination: Path, *, max_bytes: int) -> Path:
    """Extract a zipped batch safely into `destination`; the batch folder inside it.

    Refused (BatchInvalid) before anything is written: absolute paths, `..`, links, more than
    MAX_ZIP_MEMBERS files, or declared sizes above `max_bytes` in total. While extracting, the bytes
    actually written are counted too, so an archive that lies about its sizes stops at the limit.
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BatchInvalid(f"the upload is not a zip archive: {exc}")
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise BatchInvalid(f"the zip holds {len(members)} files; at most {MAX_ZIP_MEMBERS} are read")
        declared = sum(m.file_size for m in members)
        if declared > max_bytes:
            raise BatchInvalid(
                f"the zip declares {declared:,} bytes uncompressed; at most {max_bytes:,} are accepted"
            )
        for member in members:
            path = PurePosixPath(member.filename)
            mode = member.external_attr >> 16
            if path.is_absolute() or ".." in path.parts or "\\" in member.filename:
                raise BatchInvalid(f"the zip member {member.filename!r} points outside the batch")
            if stat.S_ISLNK(mode):
                raise BatchInvalid(f"the zip member {member.filename!r} is a link")
        written = 0
        for member in members:
            target = destination.joinpath(*PurePosixPath(member.filename).parts)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as data, target.open("wb") as out:
                    for block in iter(lambda data=data: data.read(COPY_BLOCK), b""):
                        written += len(block)
                        if written > max_bytes:
                            raise BatchInvalid(f"the zip holds more than {max_bytes:,} bytes uncompressed")
                        out.write(block)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise BatchInvalid(f"the zip member {member.filename!r} cannot be read: {exc}")
    if batch_markers(destination):
        return destination
    folders = [p for p in destination.iterdir() if p.is_dir()]
    if len(folders) == 1 and batch_markers(folders[0]):
        return folders[0]
    raise BatchInvalid(
        "the zip has no completion marker (BatchComplete_<BatchId>.xml) at its top or in its one "
        "folder: the batch is incomplete and was not read"
    )
