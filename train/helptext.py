"""Flag help written as the field docstrings read: one paragraph per docstring.

tyro 1.0 (with docstring_parser 0.18) joins a field docstring's lines before it dedents them, and
it keeps the break before any line that does not start with a letter, so every continuation
line, still indented as in the source, began a new line in `--help` ("...keep their start (the
paper: 2048 ALFWorld," / "4096 WebShop)"). `cli` dedents and joins the docstrings first.
"""

from __future__ import annotations

import functools
import inspect
import re

import tyro
from tyro import _docstrings


def paragraph(doc: str) -> str:
    """A field docstring as help text: dedented, lines joined by one space, blank lines kept as
    paragraph breaks."""
    blocks = re.split(r"\n\s*\n", inspect.cleandoc(doc))
    return "\n\n".join(" ".join(line.strip() for line in b.splitlines() if line.strip())
                       for b in blocks)


@functools.cache
def _install() -> None:
    # tyro's private hook: where a release renames it, help is ragged again (test_cli says so)
    # but every command still parses
    original = getattr(_docstrings, "parse_docstring_from_object", None)
    if original is None:
        return

    @functools.wraps(original)
    def parse(obj):
        return {name: paragraph(doc) for name, doc in original(obj).items()}

    _docstrings.parse_docstring_from_object = parse


def cli(config_type, **kwargs):
    """`tyro.cli(config_type, **kwargs)` with the field docstrings as `paragraph`s."""
    _install()
    return tyro.cli(config_type, **kwargs)
