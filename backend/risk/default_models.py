"""The credit models Fieldline ships (seed 000's four top indicators), as plain data.

Installed as version 1 of each size by the demo seeding and `fieldline risk install-models`;
a utility replaces them through `PUT /risk/credit-models/{size}` (a new version each time).
"""

from __future__ import annotations

from typing import Any


def _leaf(code: str, name: str, weight: float, *criteria: tuple[str, str, float]) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "weight": weight,
        "criteria": [{"code": c, "name": n, "deduction": d} for c, n, d in criteria],
        "default": criteria[0][0],
    }


def _group(code: str, name: str, weight: float, *children: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "name": name, "weight": weight, "children": list(children)}


def _safety(weight: float) -> dict[str, Any]:
    return _group(
        "safety", "安全指标 safety", weight,
        _leaf("equipment_defects", "设备隐患 equipment defects", 0.4,
              ("none", "无隐患", 0), ("minor", "一般隐患", 20), ("major", "重大隐患", 80),
              ("dangerous", "危及电网安全", 150)),
        _leaf("theft_violation", "窃电违约 theft and violation", 0.6,
              ("none", "无", 0), ("violation", "违约用电", 100), ("theft", "窃电", 200)),
    )  # fmt: skip


def _legal(weight: float) -> dict[str, Any]:
    return _group(
        "legal", "法律指标 legal", weight,
        _leaf("contract_compliance", "合同履约 contract compliance", 0.5,
              ("compliant", "履约", 0), ("minor_breach", "轻微违约", 40),
              ("serious_breach", "严重违约", 120)),
        _leaf("litigation", "诉讼记录 litigation", 0.5,
              ("none", "无", 0), ("dispute", "电费纠纷", 60), ("lawsuit", "被诉讼追缴", 150)),
    )  # fmt: skip


def _cooperation(weight: float) -> dict[str, Any]:
    return _group(
        "cooperation", "合作指标 cooperation", weight,
        _leaf("payment_timeliness", "缴费及时性 payment timeliness", 0.6,
              ("on_time", "月结月清", 0), ("occasional_late", "偶有迟缴", 30),
              ("frequent_late", "经常迟缴", 80), ("arrears", "陈欠电费", 160)),
        _leaf("communication", "沟通配合 communication", 0.4,
              ("good", "配合良好", 0), ("fair", "一般", 20), ("poor", "不配合", 60)),
    )  # fmt: skip


def _commercial(weight: float) -> dict[str, Any]:
    return _group(
        "commercial", "商业指标 commercial", weight,
        _group("financial", "财务状况 financial standing", 0.6,
               _leaf("debt_ratio", "资产负债率 debt ratio", 0.5,
                     ("below_60", "低于60%", 0), ("from_60_to_80", "60%-80%", 40),
                     ("above_80", "高于80%", 100)),
               _leaf("profitability", "盈利能力 profitability", 0.5,
                     ("profit", "盈利", 0), ("breakeven", "持平", 30), ("loss", "亏损", 80))),
        _group("standing", "社会地位与发展 standing", 0.4,
               _leaf("industry_outlook", "行业前景 industry outlook", 0.5,
                     ("growing", "上升", 0), ("stable", "平稳", 20), ("declining", "下滑", 60)),
               _leaf("qualification", "企业资质 qualification", 0.5,
                     ("complete", "齐全", 0), ("partial", "部分欠缺", 30),
                     ("missing", "缺失", 80))),
    )  # fmt: skip


DEFAULT_MODELS: dict[str, list[dict[str, Any]]] = {
    "large": [_commercial(0.2), _safety(0.25), _legal(0.25), _cooperation(0.3)],
    "medium": [_commercial(0.1), _safety(0.25), _legal(0.25), _cooperation(0.4)],
    "small": [_safety(0.3), _legal(0.2), _cooperation(0.5)],
}
