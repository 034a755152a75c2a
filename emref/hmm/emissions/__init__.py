"""HMM emission models, one module each, found by name through one registry.

:mod:`.base` holds :class:`Emission` (what every emission provides) and :data:`EMISSIONS`
(name -> class); defining a subclass with a ``name`` registers it. The built-in emissions are
imported here so that they are registered whenever :mod:`emref.hmm` is; an emission defined
anywhere else is registered when its own module is imported (see docs/emref_reference.md).
"""

from .base import EMISSIONS, Emission, emission_class
from .categorical import Categorical
from .gaussian import Gaussian
from .poisson import Poisson

__all__ = ["EMISSIONS", "Categorical", "Emission", "Gaussian", "Poisson", "emission_class"]
