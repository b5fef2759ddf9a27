"""A stand-in approval system for the sample account (dev profile only).

`make run` serves the sample account on nothing but this machine, so the progress flow needs
a backend to look numbers up in; this one answers from the number itself. In production
FLOW_ENDPOINTS points at the real approval system and this router is not mounted.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter(prefix="/demo", include_in_schema=False)

_ITEMS = ["社会保障卡补办", "住房公积金提取", "个体工商户设立登记", "居住证签注", "不动产转移登记"]
_STATES = [
    ("已受理", "材料已收齐，正在审核，预计3个工作日内办结。"),
    ("审核中", "经办人正在审核，如需补正材料会短信通知您。"),
    ("已办结", "已办结，请凭受理回执到原窗口领取结果，或留意邮寄通知。"),
]


@router.get("/progress")
async def progress(number: str = "") -> JSONResponse:
    # Numbers ending in 0 are "not found", so the not-found reply can be tried too.
    if not number or number.endswith("0"):
        return JSONResponse({"found": False}, status_code=404)
    digest = hashlib.sha256(number.encode()).digest()
    status, detail = _STATES[digest[0] % len(_STATES)]
    return JSONResponse(
        {"found": True, "item": _ITEMS[digest[1] % len(_ITEMS)], "status": status, "detail": detail}
    )
