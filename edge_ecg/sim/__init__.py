"""Device simulator: a recording replayed as protocol frames on a pseudo-terminal, with faults.

``edge-ecg simulate --record PATH --link /tmp/ttyECG --speed 1|10|max`` from the shell;
:class:`Simulator` (arrays in) and :meth:`Simulator.from_record` from Python.
"""

from edge_ecg.sim.faults import BurstDrop, FaultPlan, FaultRecord, FrameRecord, Stall, Unplug
from edge_ecg.sim.pty import PtyPort
from edge_ecg.sim.simulator import (
    Pacer,
    Pause,
    Replug,
    SimConfig,
    SimHandle,
    Simulator,
    Write,
    unplug_wall_delay_s,
)

__all__ = [
    "BurstDrop",
    "FaultPlan",
    "FaultRecord",
    "FrameRecord",
    "Pacer",
    "Pause",
    "PtyPort",
    "Replug",
    "SimConfig",
    "SimHandle",
    "Simulator",
    "Stall",
    "Unplug",
    "Write",
    "unplug_wall_delay_s",
]
