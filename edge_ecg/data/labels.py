"""Label maps: WFDB beat symbols -> AAMI EC57 classes, and 12-lead diagnoses (SNOMED-CT codes
of CinC 2020/2021, CPSC 2018 abbreviations) -> one abbreviation vocabulary.

Beats. AAMI EC57 groups the MIT-BIH beat codes into five classes::

    N = {N, L, R, e, j}   S = {A, a, J, S}   V = {V, E}   F = {F}   Q = {/, f, Q}

(escape beats in N, as in the de Chazal inter-patient literature; WFDB's ``bxb`` counts them as S).
The WFDB beat codes MIT-BIH does not use, found in other databases (INCART, the AHA database),
join the classes every EC57 table gives them: ``B`` (bundle branch block beat, unspecified) N,
``r`` (R-on-T premature ventricular contraction) V, ``?`` (beat not classified during learning) Q;
``n`` (supraventricular escape beat) goes with the other escape beats, N.

Annotations that are not beats (rhythm changes ``+``, noise ``~``, artefacts ``|``, flutter waves
``!``, comments ``"``, waveform fiducials ...; see :data:`NON_BEAT_SYMBOLS`) are ignored. A symbol in
neither set is an error (:class:`~edge_ecg.errors.LabelError`): silently dropping or guessing a
beat class would change the class counts.

Diagnoses. The table :data:`SNOMED_TABLE` holds the SNOMED-CT codes used by the CinC 2020/2021
Challenge (every code present in the shared 12-lead headers included). Codes the Challenge scores
as one diagnosis share one abbreviation: RBBB (713427006 complete RBBB, 59118001), LBBB
(733534002 complete LBBB, 164909002), PAC (284470004, 63593006 SVPB), PVC (427172004, 17338001
VPB, 164884008 ventricular ectopics). CPSC 2018 abbreviations (``Normal``, ``I-AVB`` ...) map into
the same abbreviations. :data:`DX_VOCABULARY` is the default multi-hot label set (the 2021 scored
classes plus CPSC's STD/STE, plus ``OTHER``); known diagnoses outside a vocabulary and unknown
codes go to ``OTHER``, and unknown codes are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from edge_ecg.errors import ConfigError, LabelError

# ------------------------------------------------------------------------------------------
# Beats (AAMI EC57)

AAMI_CLASSES: tuple[str, ...] = ("N", "S", "V", "F", "Q")

#: The class of a beat model trained with hard negatives (``edge-ecg train --artifact-passes``):
#: the QRS detection is not a heartbeat. Scoring drops such detections; they are not beats.
ARTIFACT = "artifact"

AAMI_MAP: dict[str, str] = {
    "N": "N", "L": "N", "R": "N", "e": "N", "j": "N", "B": "N", "n": "N",
    "A": "S", "a": "S", "J": "S", "S": "S",
    "V": "V", "E": "V", "r": "V",
    "F": "F",
    "/": "Q", "f": "Q", "Q": "Q", "?": "Q",
}  # fmt: skip

#: WFDB annotation codes that do not mark a beat (ignored by the beat datasets).
NON_BEAT_SYMBOLS: dict[str, str] = {
    "+": "rhythm change",
    "~": "signal quality change",
    "|": "isolated QRS-like artefact",
    "s": "ST change",
    "T": "T-wave change",
    "*": "systole",
    "D": "diastole",
    '"': "comment",
    "=": "measurement",
    "p": "P-wave peak",
    "t": "T-wave peak",
    "u": "U-wave peak",
    "^": "non-conducted pacer spike",
    "!": "ventricular flutter wave",
    "[": "start of ventricular flutter/fibrillation",
    "]": "end of ventricular flutter/fibrillation",
    "@": "link to external data",
    "x": "non-conducted P wave (blocked APC)",
    "(": "waveform onset",
    ")": "waveform end",
    "`": "PQ junction",
    "'": "J point",
}


def aami_class(symbol: str, *, record: str = "?") -> str | None:
    """AAMI class (``'N'``...``'Q'``) of a WFDB beat symbol; ``None`` for a non-beat annotation.

    Raises :class:`LabelError` naming the symbol and ``record`` for a symbol in neither set.
    """
    cls = AAMI_MAP.get(symbol)
    if cls is not None:
        return cls
    if symbol in NON_BEAT_SYMBOLS:
        return None
    raise LabelError(
        f"record {record}: annotation symbol {symbol!r} is neither an AAMI-mapped beat "
        f"({''.join(AAMI_MAP)}) nor a known non-beat annotation ({''.join(NON_BEAT_SYMBOLS)})"
    )


def aami_indices(symbols: Sequence[str], *, record: str = "?") -> np.ndarray:
    """Per annotation: index into :data:`AAMI_CLASSES`, or -1 for non-beat annotations (int64)."""
    index = {c: i for i, c in enumerate(AAMI_CLASSES)}
    out = np.empty(len(symbols), dtype=np.int64)
    for k, s in enumerate(symbols):
        cls = aami_class(s, record=record)
        out[k] = -1 if cls is None else index[cls]
    return out


# ------------------------------------------------------------------------------------------
# 12-lead diagnoses

#: SNOMED-CT code -> (abbreviation, description). Merged codes share an abbreviation.
SNOMED_TABLE: dict[str, tuple[str, str]] = {
    # scored in CinC 2021 (with their equivalents)
    "164889003": ("AF", "atrial fibrillation"),
    "164890007": ("AFL", "atrial flutter"),
    "6374002": ("BBB", "bundle branch block"),
    "426627000": ("Brady", "bradycardia"),
    "733534002": ("LBBB", "complete left bundle branch block"),
    "164909002": ("LBBB", "left bundle branch block"),
    "713427006": ("RBBB", "complete right bundle branch block"),
    "59118001": ("RBBB", "right bundle branch block"),
    "270492004": ("IAVB", "1st degree av block"),
    "713426002": ("IRBBB", "incomplete right bundle branch block"),
    "39732003": ("LAD", "left axis deviation"),
    "445118002": ("LAnFB", "left anterior fascicular block"),
    "164947007": ("LPR", "prolonged pr interval"),
    "251146004": ("LQRSV", "low qrs voltages"),
    "111975006": ("LQT", "prolonged qt interval"),
    "698252002": ("NSIVCB", "nonspecific intraventricular conduction disorder"),
    "426783006": ("NSR", "sinus rhythm"),
    "284470004": ("PAC", "premature atrial contraction"),
    "63593006": ("PAC", "supraventricular premature beats"),
    "10370003": ("PR", "pacing rhythm"),
    "365413008": ("PRWP", "poor R wave progression"),
    "427172004": ("PVC", "premature ventricular contractions"),
    "17338001": ("PVC", "ventricular premature beats"),
    "164884008": ("PVC", "ventricular ectopics"),
    "164917005": ("QAb", "qwave abnormal"),
    "47665007": ("RAD", "right axis deviation"),
    "427393009": ("SA", "sinus arrhythmia"),
    "426177001": ("SB", "sinus bradycardia"),
    "427084000": ("STach", "sinus tachycardia"),
    "164934002": ("TAb", "t wave abnormal"),
    "59931005": ("TInv", "t wave inversion"),
    # CPSC 2018 classes not scored in 2021
    "429622005": ("STD", "st depression"),
    "164931005": ("STE", "st elevation"),
    # unscored (present in the CinC 2020/2021 releases)
    "195042002": ("IIAVB", "2nd degree av block"),
    "164951009": ("abQRS", "abnormal QRS"),
    "426664006": ("AJR", "accelerated junctional rhythm"),
    "57054005": ("AMI", "acute myocardial infarction"),
    "413444003": ("AMIs", "acute myocardial ischemia"),
    "426434006": ("AnMIs", "anterior ischemia"),
    "54329005": ("AnMI", "anterior myocardial infarction"),
    "251173003": ("AB", "atrial bigeminy"),
    "251187003": ("AED", "atrial escape beat"),
    "195080001": ("AFAFL", "atrial fibrillation and flutter"),
    "195126007": ("AH", "atrial hypertrophy"),
    "251268003": ("AP", "atrial pacing pattern"),
    "713422000": ("ATach", "atrial tachycardia"),
    "29320008": ("AVJR", "atrioventricular junctional rhythm"),
    "233917008": ("AVB", "av block"),
    "251170000": ("BPAC", "blocked premature atrial contraction"),
    "74615001": ("BTS", "brady tachy syndrome"),
    "698247007": ("CD", "cardiac dysrhythmia"),
    "426749004": ("CAF", "chronic atrial fibrillation"),
    "413844008": ("CMI", "chronic myocardial ischemia"),
    "27885002": ("CHB", "complete heart block"),
    "204384007": ("CIAHB", "congenital incomplete atrioventricular heart block"),
    "53741008": ("CHD", "coronary heart disease"),
    "77867006": ("SQT", "decreased qt interval"),
    "82226007": ("DIB", "diffuse intraventricular block"),
    "428417006": ("ERe", "early repolarization"),
    "13640000": ("FB", "fusion beats"),
    "84114007": ("HF", "heart failure"),
    "368009": ("HVD", "heart valve disorder"),
    "251259000": ("HTV", "high t-voltage"),
    "49260003": ("IR", "idioventricular rhythm"),
    "251120003": ("ILBBB", "incomplete left bundle branch block"),
    "251200008": ("ICA", "indeterminate cardiac axis"),
    "425419005": ("IIs", "inferior ischaemia"),
    "704997005": ("ISTD", "inferior ST segment depression"),
    "426995002": ("JE", "junctional escape"),
    "251164006": ("JPC", "junctional premature complex"),
    "426648003": ("JTach", "junctional tachycardia"),
    "425623009": ("LIs", "lateral ischaemia"),
    "253352002": ("LAA", "left atrial abnormality"),
    "67741000119109": ("LAE", "left atrial enlargement"),
    "446813000": ("LAH", "left atrial hypertrophy"),
    "445211001": ("LPFB", "left posterior fascicular block"),
    "164873001": ("LVH", "left ventricular hypertrophy"),
    "55827005": ("LVHV", "left ventricular high voltage"),
    "370365005": ("LVS", "left ventricular strain"),
    "54016002": ("MoI", "mobitz type i wenckebach atrioventricular block"),
    "28189009": ("MoII", "mobitz type ii atrioventricular block"),
    "164865005": ("MI", "myocardial infarction"),
    "164861001": ("MIs", "myocardial ischemia"),
    "428750005": ("NSSTTA", "nonspecific st t abnormality"),
    "164867002": ("OldMI", "old myocardial infarction"),
    "251182009": ("VPVC", "paired ventricular premature complexes"),
    "282825002": ("PAF", "paroxysmal atrial fibrillation"),
    "67198005": ("PSVT", "paroxysmal supraventricular tachycardia"),
    "425856008": ("PVT", "paroxysmal ventricular tachycardia"),
    "164921003": ("RAb", "r wave abnormal"),
    "314208002": ("RAF", "rapid atrial fibrillation"),
    "253339007": ("RAAb", "right atrial abnormality"),
    "446358003": ("RAH", "right atrial hypertrophy"),
    "89792004": ("RVH", "right ventricular hypertrophy"),
    "55930002": ("STC", "s t changes"),
    "49578007": ("SPRI", "shortened pr interval"),
    "65778007": ("SAB", "sinoatrial block"),
    "60423000": ("SND", "sinus node dysfunction"),
    "164930006": ("STIAb", "st interval abnormal"),
    "251168009": ("SVB", "supraventricular bigeminy"),
    "426761007": ("SVT", "supraventricular tachycardia"),
    "251139008": ("ALR", "suspect arm ecg leads reversed"),
    "266257000": ("TIA", "transient ischemic attack"),
    "164937009": ("UAb", "u wave abnormal"),
    "11157007": ("VBig", "ventricular bigeminy"),
    "75532003": ("VEsB", "ventricular escape beat"),
    "81898007": ("VEsR", "ventricular escape rhythm"),
    "164896001": ("VF", "ventricular fibrillation"),
    "111288001": ("VFL", "ventricular flutter"),
    "266249003": ("VH", "ventricular hypertrophy"),
    "251266004": ("VPP", "ventricular pacing pattern"),
    "195060002": ("VPEx", "ventricular pre excitation"),
    "164895002": ("VTach", "ventricular tachycardia"),
    "251180001": ("VTrig", "ventricular trigeminy"),
    "195101003": ("WAP", "wandering atrial pacemaker"),
    "74390002": ("WPW", "wolff parkinson white pattern"),
}

#: CPSC 2018 label spellings (as in its ``#Dx`` lines and REFERENCE.csv) -> abbreviation.
CPSC_TO_ABBR: dict[str, str] = {
    "Normal": "NSR",
    "AF": "AF",
    "I-AVB": "IAVB",
    "IAVB": "IAVB",
    "LBBB": "LBBB",
    "RBBB": "RBBB",
    "PAC": "PAC",
    "PVC": "PVC",
    "STD": "STD",
    "STE": "STE",
}

OTHER = "OTHER"

#: Default multi-hot vocabulary: CinC 2021 scored classes (equivalents merged), CPSC's STD and
#: STE, and OTHER for every other diagnosis.
DX_VOCABULARY: tuple[str, ...] = (
    "NSR", "AF", "AFL", "BBB", "Brady", "IAVB", "IRBBB", "LAD", "LAnFB", "LBBB", "LPR", "LQRSV",
    "LQT", "NSIVCB", "PAC", "PR", "PRWP", "PVC", "QAb", "RAD", "RBBB", "SA", "SB", "STach",
    "TAb", "TInv", "STD", "STE", OTHER,
)  # fmt: skip

_KNOWN_ABBRS = frozenset(a for a, _ in SNOMED_TABLE.values()) | frozenset(CPSC_TO_ABBR.values())


def dx_abbreviation(code: str) -> str | None:
    """Abbreviation of one ``Dx`` entry (a SNOMED-CT code, a CPSC spelling or an abbreviation
    already in the vocabulary); ``None`` when unknown."""
    c = code.strip()
    if c in SNOMED_TABLE:
        return SNOMED_TABLE[c][0]
    if c in CPSC_TO_ABBR:
        return CPSC_TO_ABBR[c]
    if c in _KNOWN_ABBRS:
        return c
    return None


@dataclass(frozen=True)
class DxLabels:
    """Mapped diagnoses of one record: ``labels`` (vocabulary entries, ``OTHER`` included when
    anything fell outside) and ``unknown`` (raw codes no table knows)."""

    labels: tuple[str, ...]
    unknown: tuple[str, ...]


def map_dx(codes: Iterable[str], *, vocabulary: Sequence[str] = DX_VOCABULARY) -> DxLabels:
    """Map raw ``Dx`` entries onto ``vocabulary``; unknown codes go to ``OTHER`` and are listed."""
    vocab = set(vocabulary)
    labels: list[str] = []
    unknown: list[str] = []
    for code in codes:
        abbr = dx_abbreviation(code)
        if abbr is None:
            unknown.append(code.strip())
        target = abbr if abbr in vocab else OTHER
        if target == OTHER and OTHER not in vocab:
            continue
        if target not in labels:
            labels.append(target)
    return DxLabels(labels=tuple(labels), unknown=tuple(unknown))


def multi_hot(labels: Iterable[str], vocabulary: Sequence[str] = DX_VOCABULARY) -> np.ndarray:
    """float32 multi-hot vector over ``vocabulary``; a label outside it raises :class:`LabelError`."""
    index = {v: i for i, v in enumerate(vocabulary)}
    if len(index) != len(vocabulary):
        raise ConfigError(f"vocabulary has duplicate entries: {list(vocabulary)}")
    out = np.zeros(len(vocabulary), dtype=np.float32)
    for label in labels:
        if label not in index:
            raise LabelError(f"label {label!r} is not in the vocabulary {list(vocabulary)}")
        out[index[label]] = 1.0
    return out
