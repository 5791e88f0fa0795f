"""MkDocs hook: Sphinx roles in the numpy-style docstrings, shown as cross-references.

conv_core's docstrings write ``:func:`convsweep.conv_core.resolve_padding```; mkdocstrings renders the role
name as text before the code (``:func:convsweep.conv_core.resolve_padding``). This hook drops the role and
hands the name to mkdocs-autorefs as an optional reference: a link where the object is documented
on the site, plain code where it is not (no warning either way).
"""

from __future__ import annotations

import html
import re

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc):<code>([^<]+)</code>")


def _reference(match: re.Match[str]) -> str:
    name = match.group(1)
    identifier = html.escape(html.unescape(name).strip("~"), quote=True)
    return f'<autoref identifier="{identifier}" optional><code>{name}</code></autoref>'


def on_page_content(html_text: str, **kwargs) -> str:
    return ROLE.sub(_reference, html_text)
