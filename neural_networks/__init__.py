"""neural_networks: fully connected and convolutional networks in plain numpy.

The modules follow the course layout: ``activations``, ``layers``,
``losses``, ``weights``, ``optimizers``, ``schedulers``, ``models``,
``datasets``, ``logs`` and ``utils``; each has an ``initialize_<thing>``
factory that builds objects by name. ``load_model(path)`` rebuilds a trained
network from its checkpoint alone.
"""

from .activations import initialize_activation
from .datasets import Data, Dataset, initialize_dataset
from .layers import initialize_layer
from .logs import Logger
from .losses import initialize_loss
from .models import NeuralNetwork, initialize_model, load_model
from .optimizers import initialize_optimizer
from .schedulers import initialize_scheduler
from .utils import AttrDict
from .weights import initialize_weights

__version__ = "0.1.0"

__all__ = [
    "AttrDict",
    "Data",
    "Dataset",
    "Logger",
    "NeuralNetwork",
    "initialize_activation",
    "initialize_dataset",
    "initialize_layer",
    "initialize_loss",
    "initialize_model",
    "initialize_optimizer",
    "initialize_scheduler",
    "initialize_weights",
    "load_model",
]
