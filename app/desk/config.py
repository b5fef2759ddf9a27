"""The desk's YAML configuration (`DESK_CONFIG`): SLA targets and template messages.

    sla:
      default: {response_hours: 1.8, resolve_days: 5}
      投诉: {resolve_days: 3}
      投诉/服务态度: {response_hours: 1}
    notify:
      templates:
        ticket: {template_id: "…", fields: {keyword1: "{number}", …}}
        reminder: {template_id: "…", fields: {…}}     # optional; else reminders use `ticket`
      reminders: {enabled: true, days_before: 1, at: "09:00", until: "20:00"}   # app/reminders.py

Without a file the defaults apply and no template is configured (replies outside the 48-hour
window are then recorded as impossible, and the desk says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from app.desk.sla import SlaPolicy, parse_policy
from app.notify import Template, parse_templates
from app.reminders import ReminderPolicy, parse_reminders


@dataclass(frozen=True, slots=True)
class DeskConfig:
    sla: SlaPolicy = field(default_factory=SlaPolicy)
    templates: Mapping[str, Template] = field(default_factory=dict)
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)


class DeskConfigError(ValueError):
    """The desk configuration file is unreadable or malformed."""


def load_desk_config(path: Path | None, service_hours: str) -> DeskConfig:
    if path is None:
        return DeskConfig(sla=SlaPolicy(service_hours=service_hours))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DeskConfigError(f"DESK_CONFIG {path}: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise DeskConfigError(f"DESK_CONFIG {path}: expected a mapping with sla: and notify:")
    notify = raw.get("notify") or {}
    if not isinstance(notify, Mapping):
        raise DeskConfigError(f"DESK_CONFIG {path}: notify must be a mapping")
    try:
        return DeskConfig(
            sla=parse_policy(raw.get("sla"), service_hours),
            templates=parse_templates(notify.get("templates")),
            reminders=parse_reminders(notify.get("reminders")),
        )
    except ValueError as exc:
        raise DeskConfigError(f"DESK_CONFIG {path}: {exc}") from exc
