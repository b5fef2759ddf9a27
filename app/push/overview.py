"""Every campaign's reach at a glance, for the ops dashboard (issue 19).

The campaigns listed are those with sends in the database (`push_recipients`, `push_mass`),
newest first; title and topics come from the campaign's file (`CAMPAIGNS_DIR/<id>.yaml`) when it
is still there. A campaign whose file is gone keeps its figures (targeted → delivered → opened)
but "consulted the topic" and "unsubscribed" need its topics, so they read 0.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.models import PushMass, PushRecipient
from app.push.reach import Reach, reach
from knowledge.errors import KnowledgeError
from knowledge.topics import TopicCatalog

# The dashboard shows the most recent campaigns; older ones are in `wxbot push report`.
LIMIT = 12


@dataclass(frozen=True, slots=True)
class TopicContent:
    """What "asked about the campaign's topics" means: their FAQ entry ids and flow ids."""

    names: tuple[str, ...] = ()
    faq_ids: frozenset[str] = frozenset()
    flow_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CampaignReach:
    account: str
    title: str
    topics: tuple[str, ...]
    topic_names: tuple[str, ...]
    reach: Reach

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "title": self.title, "topics": list(self.topics),
                "topic_names": list(self.topic_names), **self.reach.as_dict()}


def topic_content(topics: TopicCatalog | None, chosen: Collection[str], entries: Collection[Any]) -> TopicContent:
    """`entries`: the account's FAQ entries (anything with `.id` and `.category`)."""
    if topics is None:
        return TopicContent()
    found = [t for i in chosen if (t := topics.get(i)) is not None]
    categories = {c for t in found for c in t.categories}
    return TopicContent(
        names=tuple(t.name for t in found),
        faq_ids=frozenset(e.id for e in entries if e.category in categories),
        flow_ids=frozenset(f for t in found for f in t.flows),
    )


def sent_campaigns(engine: Engine, account: str | None = None) -> list[tuple[str, str]]:
    """(account, campaign) of every campaign with rows, the most recently created first."""
    recipients = select(PushRecipient.account, PushRecipient.campaign, func.max(PushRecipient.created_at)).group_by(
        PushRecipient.account, PushRecipient.campaign
    )
    if account is not None:
        recipients = recipients.where(PushRecipient.account == account)
    latest: dict[tuple[str, str], Any] = {}
    with Session(engine) as conn:
        for acc, campaign, created in conn.execute(recipients):
            latest[(acc, campaign)] = created
        masses = select(PushMass.account, PushMass.campaign, PushMass.created_at)
        if account is not None:
            masses = masses.where(PushMass.account == account)
        for acc, campaign, created in conn.execute(masses):
            latest.setdefault((acc, campaign), created)
    return sorted(latest, key=lambda key: (latest[key], key), reverse=True)


def campaign_reaches(
    engine: Engine,
    account: str | None,
    *,
    campaigns_dir: Path,
    topics_of: Callable[[str], TopicCatalog | None],
    entries_of: Callable[[str], Collection[Any]],
    pseudonym: Callable[[str], str],
    limit: int = LIMIT,
) -> list[CampaignReach]:
    """The reach of the latest `limit` campaigns of one account (`None`: every account)."""
    from knowledge.campaigns import load_campaign

    found: list[CampaignReach] = []
    for acc, campaign_id in sent_campaigns(engine, account)[:limit]:
        catalog = topics_of(acc)
        title = campaign_id
        chosen: tuple[str, ...] = ()
        path = campaigns_dir / f"{campaign_id}.yaml"
        if path.is_file():
            try:
                campaign = load_campaign(path, topics={t.id for t in catalog} if catalog is not None else None)
            except KnowledgeError:
                pass
            else:
                title, chosen = campaign.title, campaign.topics
        content = topic_content(catalog, chosen, entries_of(acc) if chosen else ())
        figures = reach(engine, campaign_id, chosen, account=acc, pseudonym=pseudonym,
                        faq_ids=content.faq_ids, flow_ids=content.flow_ids)
        found.append(CampaignReach(acc, title, tuple(chosen), content.names, figures))
    return found
