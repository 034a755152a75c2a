"""HTML and SVG from template files, rendered by Jinja2 with autoescaping on.

Whatever a student controls (their name, a failure message their code raised) is text, never
markup. One environment per template folder, made on first use: the service's pages
(``serve/templates``) and the run summary (``templates``) share this.
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.lru_cache(maxsize=4)
def _environment(folder: str):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=FileSystemLoader(folder), autoescape=True,
                       undefined=StrictUndefined)


def render(folder, template: str, **context) -> str:
    """The template file ``folder/template`` rendered with ``context``, escaped."""
    return _environment(str(Path(folder))).get_template(template).render(**context)
