"""One worker process booking for many citizens at once: `python -m tests.db.booking_worker URL FIRST COUNT START`.

Each citizen books in its own thread with its own engine (own connections), all released at
the epoch second START, so two of these processes race like two service workers. Prints one
JSON line: citizen → status.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import date

from app.db import bookings
from app.db.engine import make_engine
from handlers.ports import BookingRequest

DAY = date(2026, 12, 8)
CAPACITY = 20


def main(url: str, first: int, count: int, start_at: float) -> None:
    results: dict[str, str] = {}
    lock = threading.Lock()
    engines = [make_engine(url) for _ in range(count)]

    def one(i: int) -> None:
        openid = f"citizen-{first + i}"
        request = BookingRequest("booking", openid, "社保卡办理", "市政务服务中心", DAY, "上午", CAPACITY, {})
        time.sleep(max(0.0, start_at - time.time()))
        result = bookings.book(engines[i], request)
        with lock:
            results[openid] = result.status

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
