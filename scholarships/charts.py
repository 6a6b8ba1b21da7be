"""Geometry of the statistics charts, drawn as server-side SVG (no script, no style attribute:
colours are SVG presentation attributes), with a table beside each that gives the figures."""

from __future__ import annotations

from typing import Any

from django.utils.translation import pgettext_lazy

WIDTH = 640
LABEL = 170
BAR = 20
GAP = 10

PARTS = (
    ("full", "#1d6b36", pgettext_lazy("scholarship statistics", "Full grants")),
    ("half", "#2f6fb0", pgettext_lazy("scholarship statistics", "Half grants")),
    ("refused", "#a4161a", pgettext_lazy("scholarship statistics", "Refused")),
    ("void", "#6b7580", pgettext_lazy("scholarship statistics", "Void")),
    ("pending", "#a3600f", pgettext_lazy("scholarship statistics", "Not decided yet")),
)


def legend() -> list[dict[str, Any]]:
    return [{"key": key, "fill": fill, "label": label} for key, fill, label in PARTS]


def grants_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One 100 % bar per row: full, half, refused, void and undecided applications."""
    if not rows:
        return None
    plot = WIDTH - LABEL - 8
    lines = []
    for index, row in enumerate(rows):
        y = index * (BAR + GAP)
        total = row["applications"]
        values = {
            "full": row["full"],
            "half": row["half"],
            "refused": row["refused"],
            "void": row["void"],
            "pending": max(0, total - row["full"] - row["half"] - row["refused"] - row["void"]),
        }
        x = float(LABEL)
        segments = []
        for key, fill, label in PARTS:
            width = plot * values[key] / total if total else 0
            if width > 0:
                segments.append(
                    {
                        "x": round(x, 2),
                        "w": round(width, 2),
                        "fill": fill,
                        "label": label,
                        "value": values[key],
                    }
                )
            x += width
        lines.append(
            {
                "label": str(row["label"])[:26],
                "y": y,
                "text_y": y + BAR - 5,
                "segments": segments,
            }
        )
    return {
        "width": WIDTH,
        "height": len(rows) * (BAR + GAP),
        "label_x": LABEL - 6,
        "bar": BAR,
        "lines": lines,
        "legend": legend(),
    }


def amount_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One bar per row, as long as its granted amount relative to the largest."""
    if not rows or not any(row["amount"] for row in rows):
        return None
    plot = WIDTH - LABEL - 8
    top = max(row["amount"] for row in rows)
    lines = []
    for index, row in enumerate(rows):
        y = index * (BAR + GAP)
        lines.append(
            {
                "label": str(row["label"])[:26],
                "y": y,
                "text_y": y + BAR - 5,
                "x": LABEL,
                "w": round(float(plot * row["amount"] / top), 2),
                "value": row["amount"],
            }
        )
    return {
        "width": WIDTH,
        "height": len(rows) * (BAR + GAP),
        "label_x": LABEL - 6,
        "bar": BAR,
        "lines": lines,
    }
