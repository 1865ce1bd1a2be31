"""Conversions between aware UTC datetimes (app/) and QDateTime shown in local time."""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QDateTime

from app.clock import ensure_utc


def to_qdatetime(value: datetime) -> QDateTime:
    return QDateTime.fromSecsSinceEpoch(int(ensure_utc(value).timestamp())).toLocalTime()


def from_qdatetime(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), tz=timezone.utc)
