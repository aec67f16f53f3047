"""The one piece of card machinery shared by model cards and dataset cards: jinja2 templates from
`model_cards/templates/` and a YAML front matter block, the layout the Hub reads (`---\\nyaml\\n---\\nbody`)."""

from __future__ import annotations

from typing import Any

import jinja2
import yaml

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("model_cards", "templates"),
    undefined=jinja2.StrictUndefined,  # a missing value is a bug in the caller, not an empty cell
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["thousands"] = lambda value: f"{int(value):,}"
_environment.filters["fmt4"] = lambda value: f"{value:.4f}"
_environment.filters["pyrepr"] = repr  # a Python string literal for code snippets
# a table cell: cut to `chars`, the characters markdown tables and HTML give meaning escaped, line breaks as <br>
_environment.filters["cell"] = lambda text, chars: (
    str(text)[:chars] + ("…" if len(str(text)) > chars else "")
).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;").replace("\n", "<br>")


def render_template(name: str, **context: Any) -> str:
    """Render `model_cards/templates/<name>` with the given context."""
    return _environment.get_template(name).render(**context)


def card_text(metadata: dict[str, Any], body: str) -> str:
    """A Hub card: YAML metadata between `---` lines, then the markdown body."""
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.lstrip()}"
