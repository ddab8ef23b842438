"""regkeras: regularizing recurrent language models in Keras 3.

The layer library of the regkeras course. Every public layer is a plain Keras 3 layer,
registered for `.keras` serialization under the package name ``"regkeras"``, so importing
this package is all a saved model needs to load (``keras.saving.load_model(path)``).
"""

import os

# Keras 3 with TensorFlow is the default backend; respect an explicit choice.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from regkeras import datasets, data, metrics  # noqa: E402,F401
from regkeras import engine, fused, spec  # noqa: E402,F401
from regkeras import dropout, normalization, recurrent, regularizers, models  # noqa: E402,F401
from regkeras import optimizers, callbacks, plotting, diagnosis, generation, experiments  # noqa: E402,F401,E501
from regkeras import tuning  # noqa: E402,F401
from regkeras import distribute  # noqa: E402,F401

from regkeras.datasets import *  # noqa: E402,F401,F403
from regkeras.data import *  # noqa: E402,F401,F403
from regkeras.metrics import *  # noqa: E402,F401,F403
from regkeras.engine import *  # noqa: E402,F401,F403
from regkeras.dropout import *  # noqa: E402,F401,F403
from regkeras.normalization import *  # noqa: E402,F401,F403
from regkeras.recurrent import *  # noqa: E402,F401,F403
from regkeras.regularizers import *  # noqa: E402,F401,F403
from regkeras.spec import *  # noqa: E402,F401,F403
from regkeras.models import *  # noqa: E402,F401,F403
from regkeras.optimizers import *  # noqa: E402,F401,F403
from regkeras.callbacks import *  # noqa: E402,F401,F403
from regkeras.diagnosis import *  # noqa: E402,F401,F403
from regkeras.generation import *  # noqa: E402,F401,F403
from regkeras.experiments import *  # noqa: E402,F401,F403
from regkeras.tuning import *  # noqa: E402,F401,F403
from regkeras.distribute import *  # noqa: E402,F401,F403

__version__ = "0.1.0"
