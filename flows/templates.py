"""Reply templates: `{slot}`, `{ticket}`, `{result.field}`, `{title}` placeholders in flow texts.

Deliberately not `str.format`: a citizen's own words end up in values and a stray brace in a
flow file must not raise mid-conversation. Unknown placeholders are left as written here and
reported by `wxbot flows check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def render(template: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
