"""A knowledge or flow file broken while the service runs: the previous version keeps serving.

`POST /admin/reload` answers 422 naming the file and line; once the file is fixed, the new
content is served without a restart (by the admin call, or by the service's own file polling).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import Desk
from tests.faults.service import Wire

pytestmark = pytest.mark.slow

HOURS_QUESTION = "政务服务大厅几点开门"
CERTIFICATE_TRIGGER = "开具证明"


@pytest.fixture
def restore(desk: Desk, wire: Wire) -> Iterator[Callable[[Path], str]]:
    """Read a fixture file for editing; it is put back (and reloaded) whatever the test did."""
    originals: dict[Path, str] = {}

    def keep(path: Path) -> str:
        originals[path] = path.read_text(encoding="utf-8")
        return originals[path]

    yield keep
    for path, text in originals.items():
        path.write_text(text, encoding="utf-8")
    if originals:
        assert wire.admin("POST", "/admin/reload").status_code == 200


def line_of(text: str, needle: str) -> int:
    """1-based line number of the line that contains `needle`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the file")


def reload_problems(wire: Wire) -> list[str]:
    response = wire.admin("POST", "/admin/reload")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["ok"] is False
    return [problem for report in body["reports"] for problem in report["problems"]]


def test_broken_knowledge_file_keeps_the_previous_answers_until_fixed(
    desk: Desk, wire: Wire, restore: Callable[[Path], str]
) -> None:
    path = desk.knowledge_dir / "faq" / "hall.yaml"
    original = restore(path)
    entries = {e["id"]: e for e in yaml.safe_load(original)["entries"]}
    answer = entries["hall-hours"]["answer"]
    assert wire.say("o-kb-before", HOURS_QUESTION).content == answer

    # A typo in a key, as a hand edit makes it: the entry loses its answer.
    broken = original.replace("    answer: " + answer, "    answr: " + answer)
    path.write_text(broken, encoding="utf-8")
    problems = reload_problems(wire)
    line = line_of(broken, "answr:")
    assert any(re.search(rf"hall\.yaml:{line}\b", p) for p in problems), problems
    assert wire.say("o-kb-broken", HOURS_QUESTION).content == answer

    updated = answer.replace("9:00-17:00", "8:30-17:30")
    path.write_text(original.replace(answer, updated), encoding="utf-8")
    response = wire.admin("POST", "/admin/reload")
    assert response.status_code == 200, response.text
    assert wire.say("o-kb-fixed", HOURS_QUESTION).content == updated


def test_broken_flow_file_keeps_the_previous_flow_and_its_fix_is_picked_up_unasked(
    desk: Desk, wire: Wire, restore: Callable[[Path], str]
) -> None:
    path = desk.flows_dir / "certificate.yaml"
    original = restore(path)
    prompt = yaml.safe_load(original)["slots"]["kind"]["prompt"]
    assert prompt in wire.say("o-flow-before", CERTIFICATE_TRIGGER).content

    broken = original.replace("    prompt: " + prompt, "    promt: " + prompt)
    path.write_text(broken, encoding="utf-8")
    problems = reload_problems(wire)
    line = line_of(broken, "promt:")
    assert any(re.search(rf"certificate\.yaml:{line}\b", p) for p in problems), problems
    assert prompt in wire.say("o-flow-broken", CERTIFICATE_TRIGGER).content

    updated = "请问您需要开具哪一类证明？例如无犯罪记录证明、居住证明。"
    path.write_text(original.replace(prompt, updated), encoding="utf-8")
    # No admin call: each worker polls its folders (every 2 s) and reloads what changed.
    deadline = time.monotonic() + 8
    replies: list[str] = []
    while time.monotonic() < deadline and not any(updated in r for r in replies):
        replies.append(wire.say(f"o-flow-fixed-{len(replies)}", CERTIFICATE_TRIGGER).content)
        time.sleep(0.25)
    assert updated in replies[-1], replies[-1]
    assert all(prompt in r for r in replies[:-1]), "a reply between the fix and the reload mixed versions"


def test_healthz_and_metrics_show_files_that_fail_to_load_while_the_old_version_serves(
    desk: Desk, wire: Wire, restore: Callable[[Path], str]
) -> None:
    path = desk.knowledge_dir / "faq" / "hall.yaml"
    original = restore(path)
    before = wire.client.get("/healthz").json()
    assert before["knowledge"] == "loaded" and before["reload"]["knowledge"]["version"] >= 1

    path.write_text(original + "  - id: [unclosed\n", encoding="utf-8")
    reload_problems(wire)
    health = wire.client.get("/healthz").json()
    knowledge = health["reload"]["knowledge"]
    assert (health["status"], health["knowledge"]) == ("degraded", "stale")
    assert knowledge["version"] == before["reload"]["knowledge"]["version"] and knowledge["age_s"] >= 0
    assert knowledge["failures"] >= 1 and any("hall.yaml" in p for p in knowledge["problems"])
    exposition = wire.client.get("/metrics").text
    failures = re.search(r'^wxbot_reload_failures_total\{resource="knowledge"\} ([0-9.]+)$', exposition, re.M)
    assert failures is not None and float(failures.group(1)) >= 1
    assert re.search(r'^wxbot_reload_failing\{resource="knowledge"\} 1\.0$', exposition, re.M)
    assert re.search(r'^wxbot_reload_last_success_timestamp_seconds\{resource="knowledge"\} ', exposition, re.M)

    path.write_text(original, encoding="utf-8")
    assert wire.admin("POST", "/admin/reload").status_code == 200
    assert wire.client.get("/healthz").json()["knowledge"] == "loaded"
