"""freqforensics: frequency-forensics layers for deepfake detection.

The layers of SFCL-HCMF (block DCT, SIDA, SBCM, FAAE, HCMA) as standalone modules, the
reference detector assembled from them, and the data and training pipeline around it.
"""

from freqforensics import functional
from freqforensics.evaluation import evaluate
from freqforensics.inference import Detector
from freqforensics.layers import FAAE, HCMA, SBCM, SIDA, BlockDCT, BlockIDCT, SIDAGate
from freqforensics.models.registry import create_model, list_models

__version__ = "0.1.0"

__all__ = [
    "BlockDCT",
    "BlockIDCT",
    "SIDA",
    "SBCM",
    "FAAE",
    "HCMA",
    "SIDAGate",
    "functional",
    "create_model",
    "Detector",
    "evaluate",
    "list_models",
    "__version__",
]
