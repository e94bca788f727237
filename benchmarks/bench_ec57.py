"""Accuracy through the stream: MIT-BIH DS2 replayed as bytes on a pseudo-terminal by the device
simulator, classified by the bundled int8 model in the streaming runtime, scored beat by beat the
way AAMI EC57 does, next to the offline evaluation of the same model file.

    python benchmarks/bench_ec57.py [--backend onnxruntime|tflite] [--records DS2]

Same as ``edge-ecg ec57``; this script exists so that ``benchmarks/`` regenerates every table of
the README.
"""

import sys

from edge_ecg.cli import main

if __name__ == "__main__":
    sys.exit(main(["ec57", *sys.argv[1:]]))
