"""Plotting helpers shared by the lectures (matplotlib).

Every figure that more than one lecture draws lives here, so that no lecture draws the same
thing twice by hand. Colours come from :data:`PALETTE` (each at least 3:1 against white, every
pair apart under simulated deuteranopia), and every helper gives its series a marker, line
style or hatch as well (:mod:`emref.viz.style`); every helper titles its axes.

- :mod:`emref.viz.mixtures`: data coloured by responsibility, covariance ellipses, EM
  iterations side by side, log-likelihood traces.
- :mod:`emref.viz.bound`: the lower-bound picture (log-likelihood, the bound that touches it
  at θᵗ, its maximiser θᵗ⁺¹).
- :mod:`emref.viz.hmm`: posterior state plots for hidden Markov models.
- :mod:`emref.viz.describe`: :func:`show`, how every lecture figure is displayed, with its alt
  text (and a longer description where the figure carries the argument).
"""

from .bound import *
from .describe import MIN_ALT_WORDS, show  # noqa: F401
from .hmm import *
from .mixtures import *
from .style import MARKERS, PALETTE, component_colors, component_linestyles, component_markers  # noqa: F401
