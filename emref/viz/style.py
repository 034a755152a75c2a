"""Colours shared by every figure of the course."""

# Okabe and Ito (2008), distinguishable under the common forms of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")


def component_colors(k: int):
    """The first ``k`` colours of :data:`PALETTE`, cycling if k is larger."""
    return [PALETTE[i % len(PALETTE)] for i in range(k)]
