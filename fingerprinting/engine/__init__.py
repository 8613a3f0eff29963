"""The attribution engine: from decoded audio and a loaded catalog index to influence shares with
evidence. Plain functions over numpy arrays, no Django: `fingerprinting.services` hands it arrays and
a config and stores what it returns; `fingerprinting.index` stores and loads index versions.

Modules (docs/attribution.md has the method and the measured figures):
- signal, votes, runs: the shared primitives (spectrogram and peaks; offset votes; the `Run` evidence
  type and run selection);
- chromaprint, landmarks, spectral: the verbatim lanes; lanes: the lane interface and their order;
- embedder, alignment, style: the style lane (influence without reused audio);
- catalog: a recording's analysis and an index version in memory; duplicates: near-duplicate groups;
- calibration: per-lane false-alarm models from leave-one-out queries on the catalog;
- shares, acceptance, pipeline: shares on the clip's time grid, the review decision, `attribute`;
- config: every tunable number, with its reason and the data it was fitted on;
- shards: an index split by recording id, merged so that it answers as the whole index.
"""

from fingerprinting.engine.catalog import (
    BuiltCatalog,
    CatalogIndex,
    RecordingAnalysis,
    analyse_recording,
    build_catalog,
    catalog_from_arrays,
)
from fingerprinting.engine.config import DEFAULT_CONFIG, EngineConfig
from fingerprinting.engine.pipeline import EngineResult, ShareResult, attribute, finish_index
from fingerprinting.engine.runs import Run, Transform
from fingerprinting.engine.signal import ANALYSIS_SR

ENGINE_NAME = "stemma-attribution"
# Recorded in every attribution. 2.0.0: calibrated false-alarm chances on every run (leave-one-out per
# index version), runs judged against their passages' own bit statistics, near-duplicate groups, the
# transform grid limited to plausible recordings, no Chromaprint resampling grid. 2.0.1: a window's FAISS
# neighbours in canonical order (ties by segment id, not FAISS's heap order), so an index split in
# shards (engine.shards) gives the same attributions as the whole index; otherwise unchanged. 2.1.0:
# explaining away (engine.explain: a recording that shares a stronger one's material loses the overlap);
# the analysis, the index and its calibration are unchanged. 2.2.0: weak spectral runs (a recording
# showing 0.2-0.3 of its peaks beyond chance, as a source deep under uncatalogued louder music does),
# cut where a full-strength run of a recording sharing its material lies. 2.2.1: faster primitives (scipy's
# FFT, maxima by doubling windows, sorted hash lookups): the same method and decisions, scores and shares
# equal to 2.2.0's up to float32 rounding (on the real tuning part: the same recordings, review states
# and table, shares within 4e-6). 2.2.2: the composition lane (off by default) scores a run z + lead, its
# z over the best other recording aligned (engine.composition.lead_of); with the lane off, attributions
# are 2.2.1's. An index calibrated with the lane's former score keeps the lane's prior until rebuilt.
# 2.2.3: chroma alignment (style and composition lanes) pads each recording to the FFT length it needs,
# not to the longest one's: the same alignments, scores equal to 2.2.2's up to float32 rounding.
# 2.2.4: the alignment pads half a clip less and correlates in cache-sized chunks; the composition lane
# retrieves in one FAISS search and counts votes in numpy: the same decisions, float32 rounding aside.
# Past 50,000 catalog patches the lane's patch index is an inverted file (composition.PatchIndex).
# 2.2.5: a composition run names the line it matched (engine.lines: bass, upper or all, from the clip's
# registers); scores, shares and decisions are 2.2.4's, with the lane on or off. 2.2.6: a kept composition
# run also counts the clip's phrases that follow the recording at its alignment (phrases_agreeing); the
# score, shares and decisions are 2.2.5's. 2.2.7: an upper-register match is named a melody or chords
# (lines.voices_sounding: the pitch classes sounding at once); evidence only, decisions are 2.2.6's.
# 2.2.8: the calibration judges a pair not found related, whose runs reach into a lane's tail, again
# against the tail fitted without it (calibration.related_pairs), so a relative alone in the tail of a
# lane that rarely fires is set aside instead of becoming the tail; an index version calibrated before
# keeps its stored calibration.
ENGINE_VERSION = "2.2.8"
# The version of what an index version holds (analysis, inverted indexes, calibration); its name is
# derived from it. 2.0.0 adds near-duplicate groups and per-lane calibration. 2.2.0: the calibration
# counts weak spectral runs in the lane's tail, and finds related pairs from full-strength runs only.
INDEX_ENGINE_VERSION = "2.2.0"

__all__ = [
    "ANALYSIS_SR",
    "DEFAULT_CONFIG",
    "ENGINE_NAME",
    "ENGINE_VERSION",
    "INDEX_ENGINE_VERSION",
    "BuiltCatalog",
    "CatalogIndex",
    "EngineConfig",
    "EngineResult",
    "RecordingAnalysis",
    "Run",
    "ShareResult",
    "Transform",
    "analyse_recording",
    "attribute",
    "build_catalog",
    "catalog_from_arrays",
    "finish_index",
]
