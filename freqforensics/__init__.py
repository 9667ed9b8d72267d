"""freqforensics: frequency-forensics layers for deepfake detection.

The layers of SFCL-HCMF (block DCT, SIDA, SBCM, FAAE, HCMA) as standalone modules, the
reference detector assembled from them, and the data and training pipeline around it.
"""

from freqforensics import functional
from freqforensics.layers import FAAE, HCMA, SBCM, SIDA, BlockDCT, BlockIDCT

__version__ = "0.1.0"

__all__ = [
    "BlockDCT",
    "BlockIDCT",
    "SIDA",
    "SBCM",
    "FAAE",
    "HCMA",
    "functional",
    "__version__",
]
