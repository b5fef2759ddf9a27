"""The suite stands alone: no test reads the `../shared` folder beside the repository (issue 15).

CI and contributors clone the repository by itself; evaluation data in `../shared` is for
benchmarks only. A test that reaches for it fails in a fresh clone.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# A path that climbs out of the repository and into shared/: parents[3] / "shared", "../shared".
OUTSIDE = re.compile(r"""(\.\./shared|parents\[\d+\]\s*/\s*["']shared["']|parent\.parent\s*/\s*["']shared["'])""")


def test_no_test_reads_the_shared_folder_beside_the_repo() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{n}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_known_answer_vectors_are_kept_in_the_repo() -> None:
    vectors = TESTS / "app" / "data" / "wechat_vectors.json"
    assert vectors.is_file()
    assert '"source"' in vectors.read_text(encoding="utf-8")
