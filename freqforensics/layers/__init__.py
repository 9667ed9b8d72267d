"""Learnable and parameter-free layers of SFCL-HCMF, each usable on its own."""

from freqforensics.layers.dct import BlockDCT, BlockIDCT
from freqforensics.layers.faae import FAAE
from freqforensics.layers.gate import SIDAGate
from freqforensics.layers.hcma import HCMA
from freqforensics.layers.sbcm import SBCM
from freqforensics.layers.sida import SIDA, SIDA_DIM

__all__ = ["BlockDCT", "BlockIDCT", "SIDA", "SIDA_DIM", "SBCM", "FAAE", "HCMA", "SIDAGate"]
