"""Former name of `regkeras.engine` (kept so that `regkeras.fused.lstm_sequence` and
`regkeras.fused.JIT_COMPILE_TF_LOOPS` keep working): this module *is* the engine module."""

import sys

from . import engine

sys.modules[__name__] = engine
