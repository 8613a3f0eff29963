"""Composition lane: a catalog work re-performed with new sounds (the same notes on other instruments,
in another key, at another tempo). Off unless `CompositionConfig.enabled`.

It works on the pitch-class (chroma) sequences the index already holds for the style lane's alignment
(`CatalogIndex.recording_chroma`, normalised per piece by `alignment.normalise_frames`: the key profile
and drones removed, each frame centred over pitch and of unit length), so it adds nothing to a recording's
analysis. Its catalog side, the patch index (`PatchIndex`), is built once when a version is written
with the lane on and stored beside it (`patch_params` says what it was built with); a loaded version
without one (written with the lane off, or with other patch settings) builds it in memory on the
lane's first use.

1. Retrieval: the 2D Fourier transform magnitude of chroma patches (`patch_frames` frames) is invariant
   to transposition (a circular shift along pitch) and to where in the patch the notes fall (a shift
   along time), and timbre reaches chroma only through the partials' weights. Catalog patches,
   whitened over the catalog (`PatchIndex`), go into an exact inner-product FAISS index; the clip's patches are taken at `retrieval_tempi` (a tempo
   change stretches the time axis, which the magnitude is not invariant to). A recording's vote is the
   sum over the clip's patches of its best similarity; the `candidates` best are aligned.
2. Alignment: the clip's chroma sequence against each candidate's whole sequence, over every offset,
   the 12 transpositions and `alignment_tempi` (one 2D FFT cross-correlation per tempo; engine.alignment).
   The statistic is the mean cosine of the aligned frames over the clip.
3. The clip's own null: the same search against `null_size` recordings drawn at random from the catalog
   (seeded by the index version). A clip of scales and arpeggios, or of one held chord, aligns well
   with much of any catalog by chance; the null measures exactly that for this clip (its note density
   and pitch entropy, its length): the candidate's alignment as a z against the clip's own chance
   alignments.
4. The second-best test: the candidate's lead, its z over the best z of every other recording aligned
   (candidates and null, its near-duplicates aside; `lead_of`). A clip of common figures aligns about
   as well with several works, a re-performance with one far better than with any other. The run's
   score is z + `lead_weight` x lead, calibrated like every lane's score (engine.calibration:
   leave-one-out on the catalog itself, with catalog pieces that share material set aside as related).

Evidence per run: the aligned clip and recording time ranges, transposition and tempo, the alignment
cosine, its z and lead, the null's mean and spread; and, on the runs kept as evidence (`described`),
which line matched (the bass line, the upper lines or all; engine.lines, from the clip's spectrum:
chroma folds the lines together) and how many of the clip's phrases follow the recording at the run's
alignment (`phrases_agreeing`: a re-performance follows its source phrase after phrase, a chance
alignment is a compromise over the whole clip that its phrases, aligned alone, mostly leave). Neither
is part of the score: as a score term the phrases raised unrelated music's tail on the reporting
catalog (docs/attribution.md, "Tried after 2.2.5").
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

import faiss
import numpy as np

from fingerprinting.engine import alignment, lines
from fingerprinting.engine.config import CompositionConfig
from fingerprinting.engine.embedder import ALIGN_FRAME_SECONDS
from fingerprinting.engine.runs import Run, Transform

LANE = "composition"


def patch_starts(length: int, *, frames: int, hop: int) -> np.ndarray:
    """First frame of each patch of a sequence of `length` frames (a shorter one padded to one patch)."""
    return np.arange(0, max(length, frames) - frames + 1, hop)


def patch_descriptors(chroma: np.ndarray, *, frames: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(descriptors [n, 12 * (frames // 2)], first frame of each) of the chroma's patches: the
    magnitude of the 2D FFT (pitch circular, time real) but its time-constant column, square-root
    compressed, of unit length. A
    sequence shorter than one patch gives one patch, zero-padded."""
    chroma = np.asarray(chroma, dtype=np.float32)
    if len(chroma) < frames:
        chroma = np.concatenate([chroma, np.zeros((frames - len(chroma), 12), np.float32)])
    starts = patch_starts(len(chroma), frames=frames, hop=hop)
    if not len(starts):
        return np.zeros((0, 12 * (frames // 2)), np.float32), starts
    stack = np.stack([chroma[s : s + frames].T for s in starts])  # [n, 12, frames]
    # The time-constant column (the patch's average pitch-class profile) is left out: it follows the
    # voicing and the instruments' partials more than the notes' motion (tuning part: same-key
    # retrieval 0.8 -> 0.9 without it).
    mags = np.sqrt(np.abs(np.fft.fft(np.fft.rfft(stack, axis=2), axis=1))[:, :, 1:])
    flat = mags.reshape(len(starts), -1).astype(np.float32)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.where(norms > 1e-6, flat / np.maximum(norms, 1e-9), 0.0).astype(np.float32), starts


@dataclass
class PatchIndex:
    """The catalog's chroma patches in FAISS, whitened, and the recording each belongs to.

    Raw patch descriptors are all alike (cosines of 0.93-0.95 between unrelated patches: the common
    shape of a chroma modulation spectrum dominates them), so a recording's vote reflected how many
    patches it has more than what it plays. Centred on the catalog's mean descriptor and whitened
    (PCA, each direction scaled to unit variance, small directions floored at `whitening_floor` of
    the largest), the cosine compares what sets patches apart (tuning part: the true source among the
    candidates for key and tempo changes 0.5 -> 0.7, bass lines 0.8 -> 1.0; synthesized 0.9 -> 1.0)."""

    faiss_index: object
    recording: np.ndarray  # int32 [n_patches]
    mean: np.ndarray  # float32 [dim]: the catalog's mean raw descriptor
    whitening: np.ndarray  # float32 [dim, dim]

    def arrays(self) -> dict[str, np.ndarray]:
        """What a caller stores besides the FAISS index (`from_stored` reads them back)."""
        return {
            "composition_recording": np.asarray(self.recording, np.int32),
            "composition_mean": np.asarray(self.mean, np.float32),
            "composition_whitening": np.asarray(self.whitening, np.float32),
        }

    @classmethod
    def from_stored(
        cls, faiss_index, arrays: Mapping[str, np.ndarray], config: CompositionConfig
    ) -> "PatchIndex":
        """A stored patch index (FAISS index and `arrays()`), its lists searched as `config` says now
        (`ivf_probe` is a query setting: it is not among `patch_params`)."""
        ivf = faiss.try_extract_index_ivf(faiss_index)
        if ivf is not None:
            ivf.nprobe = probed_lists(int(ivf.nlist), int(faiss_index.ntotal), config)
        return cls(
            faiss_index,
            np.asarray(arrays["composition_recording"]),
            np.asarray(arrays["composition_mean"]),
            np.asarray(arrays["composition_whitening"]),
        )

    @classmethod
    def build(cls, index, config: CompositionConfig) -> "PatchIndex":
        """Exact search (every catalog patch compared) up to `config.exact_patches` patches; beyond,
        an inverted file of quantised patches (`_build_approximate`)."""
        total = sum(
            len(
                patch_starts(
                    len(index.recording_chroma(p)), frames=config.patch_frames, hop=config.catalog_hop_frames
                )
            )
            for p in range(index.n_recordings)
        )
        if total > config.exact_patches:
            return cls._build_approximate(index, config, total)
        dim = 12 * (config.patch_frames // 2)
        parts, owners = [], []
        for position in range(index.n_recordings):
            desc = catalog_patches(index, position, config)
            parts.append(desc)
            owners.append(np.full(len(desc), position, np.int32))
        raw = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        mean, whitening = whitening_of(raw, config.whitening_floor)
        flat = faiss.IndexFlatIP(dim)
        if len(raw):
            flat.add(np.ascontiguousarray(whiten(raw, mean, whitening)))
        return cls(flat, np.concatenate(owners) if owners else np.zeros(0, np.int32), mean, whitening)

    @classmethod
    def _build_approximate(cls, index, config: CompositionConfig, total: int) -> "PatchIndex":
        """An inverted file of quantised patches (`approximate_codec`): the whitening and the coarse
        quantiser are fitted on the patches of `approximate_sample` recordings drawn at random, then
        every recording's patches are whitened and added one recording at a time, so the raw descriptors
        of the whole catalog (5.1 GB at 50,000 three-minute recordings) are never held at once."""
        dim = 12 * (config.patch_frames // 2)
        rng = np.random.default_rng(0)
        sample = rng.choice(
            index.n_recordings, min(index.n_recordings, config.approximate_sample), replace=False
        )
        raw = np.concatenate([catalog_patches(index, int(p), config) for p in sorted(sample)])
        mean, whitening = whitening_of(raw, config.whitening_floor)
        # About sqrt(patches) lists (FAISS's rule of thumb), with at least 39 training patches each.
        lists = max(1, min(int(np.sqrt(total)), len(raw) // 39))
        ivf = faiss.index_factory(dim, f"IVF{lists},{config.approximate_codec}", faiss.METRIC_INNER_PRODUCT)
        ivf.train(np.ascontiguousarray(whiten(raw, mean, whitening)))
        faiss.extract_index_ivf(ivf).nprobe = probed_lists(lists, total, config)
        owners = []
        for position in range(index.n_recordings):
            desc = catalog_patches(index, position, config)
            ivf.add(np.ascontiguousarray(whiten(desc, mean, whitening)))
            owners.append(np.full(len(desc), position, np.int32))
        return cls(ivf, np.concatenate(owners) if owners else np.zeros(0, np.int32), mean, whitening)

    @classmethod
    def updated(
        cls, parent: "PatchIndex", parent_rows: list[dict], index, config: CompositionConfig
    ) -> "PatchIndex | None":
        """The parent version's inverted file (a private, writable copy) brought to `index`'s recordings:
        the patches of recordings gone (or whose audio changed) removed, the new recordings' added with
        the parent's whitening and lists, the kept ones' patches untouched and renumbered to their new
        positions. None where a whole build is due: the parent's index is exact (a few seconds to build
        at most), the catalog now fits exact search, or it has outgrown its lists (`outgrown`).
        Recordings are matched by id and audio digest (the version rows' "id" and "sha")."""
        ivf = faiss.try_extract_index_ivf(parent.faiss_index)
        if ivf is None:
            return None
        rows = index.recordings
        now = {(row["id"], row.get("sha")): position for position, row in enumerate(rows)}
        renumbered = np.full(len(parent_rows) + 1, -1, np.int32)  # parent position -> new; [-1] stays -1
        for position, row in enumerate(parent_rows):
            renumbered[position] = now.pop((row["id"], row.get("sha")), -1)
        owners = renumbered[parent.recording]
        fresh = {position: catalog_patches(index, position, config) for position in sorted(now.values())}
        total = int((owners >= 0).sum()) + sum(len(desc) for desc in fresh.values())
        if total <= config.exact_patches or outgrown(int(ivf.nlist), total):
            return None
        gone = np.nonzero((owners < 0) & (parent.recording >= 0))[0]
        if len(gone):
            parent.faiss_index.remove_ids(faiss.IDSelectorBatch(gone.astype(np.int64)))
        parts, next_id = [owners], len(owners)  # ids after every id the parent gave: none is reused
        for position, desc in fresh.items():
            ids = np.arange(next_id, next_id + len(desc), dtype=np.int64)
            parent.faiss_index.add_with_ids(
                np.ascontiguousarray(whiten(desc, parent.mean, parent.whitening)), ids
            )
            parts.append(np.full(len(desc), position, np.int32))
            next_id += len(desc)
        ivf.nprobe = probed_lists(int(ivf.nlist), total, config)
        return cls(parent.faiss_index, np.concatenate(parts), parent.mean, parent.whitening)


def outgrown(lists: int, patches: int) -> bool:
    """Whether an inverted file's lists now hold over 4 times the patches they were sized for: a clip
    patch's scan of `probed_lists` lists costs in proportion, so the index is rebuilt with more lists
    instead of updated. `_build_approximate` gives min(sqrt(patches), training patches / 39) lists, so
    the catalog it was built for held at least max(lists^2, 39 lists) patches."""
    return patches > 4 * max(lists * lists, 39 * lists)


def probed_lists(lists: int, patches: int, config: CompositionConfig) -> int:
    """Lists a clip patch searches: `ivf_probe`, or more on a catalog just past `exact_patches`, so that
    a search still covers as many patches as the exact search it replaces (bench/composition_scale.py,
    300 synthetic recordings: 32 of 229 lists lost a third of the sources the exact search found)."""
    covering = int(np.ceil(lists * config.exact_patches / max(patches, 1)))
    return max(1, min(lists, max(config.ivf_probe, covering)))


def catalog_patches(index, position: int, config: CompositionConfig) -> np.ndarray:
    """A catalog recording's raw patch descriptors."""
    desc, _starts = patch_descriptors(
        index.recording_chroma(position), frames=config.patch_frames, hop=config.catalog_hop_frames
    )
    return desc


# A direction of the raw patch descriptors whose variance is below this share of the largest is empty:
# rounding noise (1e-16 of the largest on synthetic chroma), not a feature (`whitening_of`).
NULL_VARIANCE = 1e-9


def whitening_of(raw: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, matrix) whitening the descriptors `raw`: principal directions scaled to unit variance,
    a direction's variance floored at `floor` times the largest (so a catalog of few patches, whose
    small directions are noise, is not blown up along them)."""
    dim = raw.shape[1]
    if len(raw) < 2:
        return np.zeros(dim, np.float32), np.eye(dim, dtype=np.float32)
    mean = raw.mean(axis=0)
    centred = (raw - mean).astype(np.float64)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    largest = max(float(values.max()), 1e-12)
    # Directions with no variance at all are dropped (their column zeroed), not floored: the 2D FFT
    # magnitude is symmetric, so about half the raw dimensions copy others, and the 70-odd directions
    # that leaves empty hold only rounding noise (variances 1e-16 of the largest). Scaled up by the
    # floor, that noise put values of 1e-9 to 1e-27 into every whitened patch and the lists' centroids,
    # whose products are subnormal floats: FAISS's inner products ran 10x slower on them (coarse
    # assignment of a recording's patches 50 ms against 5 ms; bench/composition_scale.py).
    empty = values < NULL_VARIANCE * largest
    values = np.maximum(values, floor * largest)
    whitening = np.where(empty[None, :], 0.0, vectors / np.sqrt(values))
    return mean.astype(np.float32), whitening.astype(np.float32)


def whiten(desc: np.ndarray, mean: np.ndarray, whitening: np.ndarray) -> np.ndarray:
    """Descriptors centred, whitened and of unit length (the vectors the patch index compares)."""
    out = (desc - mean) @ whitening
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.where(norms > 1e-9, out / np.maximum(norms, 1e-9), 0.0).astype(np.float32)


# Bumped when what `PatchIndex.build` makes from the same settings changes, so that a stored patch index
# of the former kind is rebuilt instead of read.
PATCH_INDEX_FORMAT = 2  # 2: empty whitening directions dropped (whitening_of)


def patch_params(config: CompositionConfig) -> dict:
    """The settings a patch index is built with: a stored one serves a config only when these agree."""
    return {
        "format": PATCH_INDEX_FORMAT,
        "patch_frames": config.patch_frames,
        "catalog_hop_frames": config.catalog_hop_frames,
        "whitening_floor": config.whitening_floor,
        "exact_patches": config.exact_patches,
        "approximate_sample": config.approximate_sample,
        "approximate_codec": config.approximate_codec,
    }


def patch_index(index, config: CompositionConfig) -> PatchIndex:
    """The loaded index's patch index, kept with it: the one stored with its version when the caller
    gave a loader (`CatalogIndex.stored_patches`) and it was built with these settings, else built here
    on first use (283 s of CPU at 50,000 recordings, bench/composition_scale.py)."""
    cached = getattr(index, "_composition_patches", None)
    if cached is None:
        reader = getattr(index, "stored_patches", None)  # duck-typed catalogs (benches, tests) have none
        stored = reader(patch_params(config)) if reader is not None else None
        cached = (
            PatchIndex.from_stored(*stored, config) if stored is not None else PatchIndex.build(index, config)
        )
        index._composition_patches = cached
    return cached


def retrieve(index, clip_chroma: np.ndarray, config: CompositionConfig, exclude: frozenset[int]) -> list[int]:
    """The `candidates` recordings whose patches vote most for the clip's (ties by position)."""
    patches = patch_index(index, config)
    total = int(patches.faiss_index.ntotal)
    if not total or len(clip_chroma) < 2:
        return []
    per_tempo = []
    for step in config.retrieval_tempi:
        scaled = alignment.normalise_frames(alignment.rescale_time(clip_chroma, step))
        desc, _ = patch_descriptors(scaled, frames=config.patch_frames, hop=config.clip_hop_frames)
        per_tempo.append(whiten(desc, patches.mean, patches.whitening))
    n_patches = min(len(d) for d in per_tempo)  # a clip patch is compared at every tempo; its best counts
    k = min(config.retrieval_k, total)
    # One search for every tempo (one matrix product in FAISS, not one per tempo), split back per tempo.
    sims, ids = patches.faiss_index.search(
        np.ascontiguousarray(np.concatenate([d[:n_patches] for d in per_tempo])), k
    )
    hits = [
        (sims[t * n_patches : (t + 1) * n_patches], ids[t * n_patches : (t + 1) * n_patches])
        for t in range(len(per_tempo))
    ]
    scored = _recording_votes(hits, patches.recording, exclude)
    # At most half the catalog, so a small catalog keeps recordings for the clip's null.
    limit = min(config.candidates, max(1, index.n_recordings // 2))
    return sorted(scored, key=lambda r: (-round(scored[r], 6), r))[:limit]


def _recording_votes(
    hits: list[tuple[np.ndarray, np.ndarray]], owners: np.ndarray, exclude: frozenset[int]
) -> dict[int, float]:
    """Per recording with a patch among the hits, its vote: at its best tempo, the sum over the clip's
    patches of its best similarity (a whitened cosine below 0 is no resemblance and counts 0). `hits`
    holds FAISS's (similarities, ids) [clip patches, k] per clip tempo; `owners` the recording of each
    catalog patch. In numpy, not a loop over every hit: the loop was a tenth of the lane's time."""
    tempo, row, rec, sim = [], [], [], []
    for t, (sims, ids) in enumerate(hits):
        valid = ids >= 0
        rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)[valid]
        tempo.append(np.full(len(rows), t))
        row.append(rows)
        rec.append(owners[ids[valid]])
        sim.append(sims[valid])
    recs = np.concatenate(rec) if rec else np.zeros(0, np.int32)
    keep = ~np.isin(recs, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
    unique, which = np.unique(recs[keep], return_inverse=True)
    n_patches = hits[0][0].shape[0] if hits else 0
    votes = np.zeros((len(unique), len(hits), n_patches), np.float32)
    np.maximum.at(
        votes, (which, np.concatenate(tempo)[keep], np.concatenate(row)[keep]), np.concatenate(sim)[keep]
    )
    totals = votes.sum(axis=2).max(axis=1) if len(unique) else np.zeros(0, np.float32)
    return {int(r): float(v) for r, v in zip(unique, totals, strict=True)}


def null_positions(index, avoid: set[int], size: int) -> list[int]:
    """`size` recordings not in `avoid`, drawn by the index version; all of them if fewer remain."""
    seed = int(hashlib.sha256(f"{index.version}/composition".encode()).hexdigest()[:8], 16)
    order = np.random.default_rng(seed).permutation(index.n_recordings)
    return [int(p) for p in order if int(p) not in avoid][:size]


@dataclass(frozen=True)
class CompositionResult:
    candidates: list[int]
    alignments: list[alignment.Alignment]
    z: np.ndarray  # per candidate
    lead: np.ndarray  # per candidate: its z over the best z of every other recording aligned (lead_of)
    score: np.ndarray  # per candidate: the run's score, z + lead_weight x lead
    null_mean: float
    null_sd: float


def align(
    index, clip_chroma: np.ndarray, config: CompositionConfig, exclude: frozenset[int]
) -> CompositionResult:
    """Candidates retrieved and aligned, and their alignment as a z against the clip's own null."""
    return align_candidates(
        index, clip_chroma, retrieve(index, clip_chroma, config, exclude), config, exclude
    )


def align_candidates(
    index, clip_chroma: np.ndarray, candidates: list[int], config: CompositionConfig, exclude: frozenset[int]
) -> CompositionResult:
    """`candidates` aligned with the clip, as z's against the clip's alignments with `null_size`
    recordings drawn at random (neither candidates nor excluded)."""
    if not candidates:
        return CompositionResult([], [], np.zeros(0), np.zeros(0), np.zeros(0), 0.0, 1.0)
    null = null_positions(index, set(candidates) | set(exclude), config.null_size)
    positions = candidates + null
    aligned = alignment.align_many(
        clip_chroma,
        [index.recording_chroma(p) for p in positions],
        frame_seconds=ALIGN_FRAME_SECONDS,
        windows=[],
        tempo_factors=config.alignment_tempi,
    )
    scores = np.array([a.score for a in aligned], dtype=np.float64)
    null_scores = scores[len(candidates) :]
    w = config.prior_weight
    mean = (null_scores.sum() + w * config.prior_mean) / (len(null_scores) + w)
    var = (((null_scores - mean) ** 2).sum() + w * config.prior_sd**2) / (len(null_scores) + w)
    sd = max(float(np.sqrt(var)), config.sd_floor)
    z = (scores - mean) / sd
    lead = lead_of(z, positions, len(candidates), index.group_members)
    mine = z[: len(candidates)]
    # Far above the clip's chance level *and* well clear of every other work (config.lead_weight).
    score = mine + config.lead_weight * lead
    return CompositionResult(candidates, aligned[: len(candidates)], mine, lead, score, float(mean), sd)


def score_name(config: CompositionConfig) -> str:
    """What the lane's run score is, stored with an index version's calibration: a calibration of
    another score (the z alone, before 2026-12-02, or another `lead_weight`) is in other units."""
    return f"z + {config.lead_weight:g} x lead"


def lead_of(z: np.ndarray, positions: list[int], n_candidates: int, group_members) -> np.ndarray:
    """Per candidate (the first `n_candidates` of `positions`), its z minus the best z among every
    other recording aligned (candidates and null) outside its near-duplicate group: the second-best
    test of retrieval (a clip of scales or one held chord aligns about as well with several works, a
    re-performance with one far better than with any other). Tuning part (bench/composition_probe.py):
    re-performed unrelated clips lead by at most 2.9-3.1, plain unrelated real music by 3.5, true
    sources by a median of 1.8-7.3 (same key, key and tempo changed, melody line). With no other
    recording aligned, the lead is the z itself."""
    out = np.empty(n_candidates, dtype=np.float64)
    for i in range(n_candidates):
        group = set(group_members(positions[i]))
        others = [float(v) for p, v in zip(positions, z, strict=True) if p not in group]
        out[i] = float(z[i]) - max(others) if others else float(z[i])
    return out


def runs_of(result: CompositionResult, clip_chroma: np.ndarray, index, duration: float) -> list[Run]:
    """One run per candidate: the clip time its alignment covers, the recording time it maps to, and
    the candidate's score (z + lead_weight x lead). Which line matched and the phrases that follow are
    added to the runs kept as evidence (`described`)."""
    out = []
    for position, al, z, lead, score in zip(
        result.candidates, result.alignments, result.z, result.lead, result.score, strict=True
    ):
        length = int(np.floor((len(clip_chroma) - 1) / al.tempo_step)) + 1  # rescaled clip frames
        rec_frames = len(index.recording_chroma(position))
        first = max(0, -al.offset_frames)
        last = min(length, rec_frames - al.offset_frames)
        if last <= first:
            continue
        semitones = al.clip_semitones
        clip_start = first * al.tempo_step * ALIGN_FRAME_SECONDS
        clip_end = min(duration, last * al.tempo_step * ALIGN_FRAME_SECONDS)
        out.append(
            Run(
                lane=LANE,
                recording=position,
                clip_start=float(clip_start),
                clip_end=float(clip_end),
                rec_start=float((first + al.offset_frames) * ALIGN_FRAME_SECONDS),
                rec_end=float((last + al.offset_frames) * ALIGN_FRAME_SECONDS),
                score=float(score),
                strength=float(np.clip(al.score, 0.0, 1.0)),
                # The clip plays 1 / tempo_step times faster than the recording.
                transform=Transform(tempo=round(1.0 / al.tempo_step, 3), semitones=float(semitones)),
                detail={
                    "alignment": float(al.score),
                    "z": float(z),
                    "lead": float(lead),
                    "null_mean": result.null_mean,
                    "null_sd": result.null_sd,
                    "matched": "pitch-class sequence (all lines)",
                },
            )
        )
    return out


LINE_TEXT = {
    "bass": "the bass line",
    "upper": "the upper lines (melody or chords), no bass",
    "melody": "a melody (one upper line), no bass",
    "chords": "chords (several upper notes at once), no bass",
    "all": "all lines (melody or chords, and bass)",
    "unknown": "pitch-class sequence (the aligned frames are silent)",
}


@dataclass(frozen=True)
class Phrase:
    """One phrase of a clip against a run's recording (`phrase_figures`), in mean cosine per frame."""

    own: float  # its best alignment with the recording on its own (every offset, the 12 transpositions)
    at_run: float  # at the run's alignment
    typical: float  # the mean over offsets of its best alignment at each
    spread: float  # and their spread


def phrase_figures(
    clip_chroma: np.ndarray, recording: np.ndarray, al: alignment.Alignment, config: CompositionConfig
) -> list[Phrase]:
    """Per sounding phrase of the clip (at `al`'s tempo, cut into whole phrases of `phrase_frames`),
    how it aligns with `recording` on its own (`alignment.best_window_scores`) and at `al`."""
    scaled = (
        alignment.normalise_frames(alignment.rescale_time(clip_chroma, al.tempo_step))
        if al.tempo_step != 1.0
        else clip_chroma
    )
    size = config.phrase_frames
    starts = [a for a in range(0, len(scaled) - size + 1, size) if np.any(scaled[a : a + size])]
    if not starts:
        return []
    windows = np.stack([scaled[a : a + size] for a in starts])
    own, typical, spread = alignment.best_window_scores(windows, recording)
    rotated = np.roll(recording, -al.transpose, axis=1)
    out = []
    for window, start, best, mean, sd in zip(windows, starts, own, typical, spread, strict=True):
        at = np.arange(size) + al.offset_frames + start
        inside = (at >= 0) & (at < len(recording))
        at_run = float(np.sum(window[inside] * rotated[at[inside]])) / size
        out.append(Phrase(float(best), at_run, float(mean), float(sd)))
    return out


def phrase_follows(phrase: Phrase, config: CompositionConfig) -> bool:
    """At the run's alignment the phrase is at least `phrase_tolerance` of its own best: the tolerance,
    not the same offset, so that a phrase the recording repeats follows at either repeat."""
    return phrase.own > 0 and phrase.at_run >= config.phrase_tolerance * phrase.own


def phrases_agreeing(
    clip_chroma: np.ndarray, recording: np.ndarray, al: alignment.Alignment, config: CompositionConfig
) -> tuple[int, int]:
    """(How many of the clip's phrases follow `recording` at the alignment `al`, how many phrases
    sound): `phrase_figures` counted by `phrase_follows`."""
    phrases = phrase_figures(clip_chroma, recording, al, config)
    return sum(phrase_follows(p, config) for p in phrases), len(phrases)


def described(
    run: Run,
    result: CompositionResult,
    registers: lines.Registers,
    clip_chroma: np.ndarray,
    index,
    config: CompositionConfig,
) -> Run:
    """`run` (one of `result`'s) with which line it matched (engine.lines) and the phrases that follow
    the recording at its alignment, and the figures behind them. For the runs kept as evidence only:
    the clip's registers cost an STFT, each run two register alignments and its phrases' alignments
    with the recording."""
    al = result.alignments[result.candidates.index(run.recording)]
    recording = index.recording_chroma(run.recording)
    found = lines.line_of(registers, recording, al)
    held, phrases = phrases_agreeing(clip_chroma, recording, al, config)
    return replace(
        run,
        detail={
            **run.detail,
            **found,
            "matched": LINE_TEXT[found["upper_line"] or found["line"]],
            "phrases_agreeing": held,
            "phrases": phrases,
        },
    )
