"""Menu picks in the turn log: the labels a knowledge base learns from (issue 14).

A 「您是不是想问」 menu is logged as a `clarify` row holding the citizen's question (masked, with a
pseudonymous user id, as every row); the option they then pick is the next row of the same user, a
`faq` row whose text is the option's number and whose `faq_id` is the entry picked. Together they
are a label — this question is answered by that entry — without a column of their own: the rows
already say it, and menus are cleared at the next message (handlers/text.py), so a number right
after a menu can only be a pick from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from app.turnlog.consultations import TurnFacts, is_interaction
from knowledge.learning import Label


def menu_picks(rows: Sequence[TurnFacts]) -> Iterator[Label]:
    """The labels in one user's rows (in time order)."""
    previous: TurnFacts | None = None
    for row in rows:
        if not is_interaction(row):
            continue
        if (
            previous is not None
            and previous.route == "clarify"
            and previous.text.strip()
            and row.route == "faq"
            and row.faq_id
            and row.text.strip().isdigit()
        ):
            yield Label(previous.text.strip(), row.faq_id)
        previous = row


def all_menu_picks(users: Iterable[Sequence[TurnFacts]]) -> list[Label]:
    return [label for rows in users for label in menu_picks(rows)]
