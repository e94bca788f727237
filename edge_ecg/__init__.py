"""edge-ecg: int8 ECG classifiers on wearables and the boards they talk to.

The top-level package imports nothing heavy; each stage is its own subpackage
(``edge_ecg.data``, ``edge_ecg.signal``, ``edge_ecg.models``, ``edge_ecg.train``,
``edge_ecg.quant``, ``edge_ecg.deploy``, ``edge_ecg.runtime``, ``edge_ecg.protocol``,
``edge_ecg.sim``, ``edge_ecg.bench``).
"""

from edge_ecg.errors import EdgeECGError

__version__ = "0.1.0"
__all__ = ["EdgeECGError", "__version__"]
