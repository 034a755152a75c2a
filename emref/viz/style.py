"""Colours, markers and line styles shared by every figure of the course.

Readable without colour (docs/teaching.md, "Accessibility"; tests/test_accessibility.py):

- every colour of :data:`PALETTE` has a contrast of at least 3:1 against the white background
  (WCAG 2.1 SC 1.4.11, graphical objects), so a thin line or a small marker stays visible;
- any two of them stay apart under simulated deuteranopia (Machado, Oliveira and Fernandes
  2009, full severity): a CIEDE2000 difference of at least 12 (Okabe and Ito's set, which
  this replaces, fails the 3:1 with its orange, sky blue and yellow);
- and colour is never the only cue: the helpers give series their own marker
  (:data:`MARKERS`), line style (:data:`LINESTYLES`) or hatch (:data:`HATCHES`) as well.

The order keeps the roles the lectures rely on (``PALETTE[0]`` is the blue of the data's
model, ``PALETTE[5]`` the dark red of what changes, ``PALETTE[7]`` black).
"""

__all__ = [
    "HATCHES",
    "LINESTYLES",
    "MARKERS",
    "PALETTE",
    "component_colors",
    "component_linestyles",
    "component_markers",
]

PALETTE = (
    "#116AC1",  # blue          5.4:1 against white
    "#E96901",  # orange        3.2:1
    "#018C70",  # green         4.2:1
    "#B172BB",  # light purple  3.5:1
    "#29686E",  # dark teal     6.4:1
    "#81250C",  # dark red      9.5:1
    "#7D7203",  # olive         4.9:1
    "#000000",  # black        21.0:1
)

#: One marker per series, in the order of :data:`PALETTE` (filled shapes that differ in
#: outline, not only in size).
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")

#: One line style per series, in the order of :data:`PALETTE`.
LINESTYLES = ("-", "--", "-.", ":", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 1)), (0, (8, 3)),
              (0, (3, 1, 1, 1)))

#: One hatch per filled band, in the order of :data:`PALETTE` (the first band plain).
HATCHES = ("", "///", "...", "xx", "\\\\\\", "++", "oo", "--")


def _cycle(values, k: int, name: str) -> list:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, found {type(k).__name__}")
    if k < 0:
        raise ValueError(f"k (the number of {name}) must be >= 0, found {k}")
    return [values[i % len(values)] for i in range(k)]


def component_colors(k: int) -> list:
    """The first ``k`` colours of :data:`PALETTE`, cycling if k is larger."""
    return _cycle(PALETTE, k, "colours")


def component_markers(k: int) -> list:
    """The first ``k`` markers of :data:`MARKERS`, cycling if k is larger."""
    return _cycle(MARKERS, k, "markers")


def component_linestyles(k: int) -> list:
    """The first ``k`` line styles of :data:`LINESTYLES`, cycling if k is larger."""
    return _cycle(LINESTYLES, k, "line styles")
