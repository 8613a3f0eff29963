"""Audio stored by the catalog (import, upload) is indexed without anyone running index_catalog."""

import pytest

from catalog.importer import catalog_import
from catalog.models import Recording, RecordingStatus
from demo.synth import synthesize, write_wav
from fingerprinting.models import IndexVersion
from tests.factories import LabelFactory

pytestmark = pytest.mark.django_db


def test_imported_audio_is_indexed_after_the_commit(tmp_path, django_capture_on_commit_callbacks):
    label = LabelFactory()
    write_wav(tmp_path / "QZS7M2600401.wav", synthesize(41, 12.0))
    csv_text = "isrc,title,display_artist\nQZS7M2600401,Indexed Song,Ann\n"
    with django_capture_on_commit_callbacks(execute=True):
        report = catalog_import(label=label, csv_text=csv_text, audio_dir=tmp_path)
    assert report.audio_stored == 1
    assert Recording.objects.get(label=label).status == RecordingStatus.INDEXED
    assert IndexVersion.objects.filter(label=label).exists()
