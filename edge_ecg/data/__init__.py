"""Recordings and datasets: record readers (WFDB, CinC quirks, OpenSignals text), label maps
(AAMI, SNOMED-CT), MIT-BIH beats with the DS1/DS2 split, CinC 2017/2020/2021, CPSC 2018 and
PTB-XL layouts, lead selection and derivation.

Nothing here imports torch; wfdb is imported inside the readers that need it.
"""

from edge_ecg.data.records import Annotations, Record, read_opensignals, read_record, save_npz

__all__ = ["Annotations", "Record", "read_record", "read_opensignals", "save_npz"]
