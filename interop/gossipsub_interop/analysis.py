"""Reliability, latency and duplicates from the nodes' stdout logs.

Parsing follows the harness' ``analyze_message_deliveries.py``: a line is a JSON object; ``PeerID``
gives the file's node id; each ``Received Message`` is a delivery the first time that node logs
that id, and a duplicate after. Beside the harness' own figures (spread from the first delivery,
its ``reached`` and duplicates per node) we measure latency from the publisher's ``Published
Message`` line (all nodes share one clock on loopback) against the topic's subscribers.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["LogError", "NodeLog", "Summary", "parse_log", "summarize"]


class LogError(ValueError):
    """A log breaks the contract (no PeerID line, a line without time/msg, ...)."""


@dataclass
class NodeLog:
    node_id: int
    peer_id: str
    #: message id -> time of the first "Received Message"
    first_receipt: dict[str, datetime] = field(default_factory=dict)
    #: message id -> copies after the first
    duplicates: dict[str, int] = field(default_factory=dict)
    #: message id -> (time, topic) of our own "Published Message"
    published: dict[str, tuple[datetime, str]] = field(default_factory=dict)


def _time(record: Mapping[str, Any], where: str) -> datetime:
    try:
        return datetime.fromisoformat(str(record["time"]))
    except (KeyError, ValueError):
        raise LogError(f"{where}: no RFC 3339 'time'") from None


def parse_log(lines: Iterable[str], where: str = "log") -> NodeLog:
    """One node's stdout. Strict where the contract says MUST: every line a JSON object with
    ``time`` and ``msg``, a ``PeerID`` line with ``id`` and integer ``node_id`` first of all."""
    log: NodeLog | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        here = f"{where}:{number}"
        try:
            record = json.loads(line)
        except ValueError:
            raise LogError(f"{here}: not JSON") from None
        if not isinstance(record, dict) or "msg" not in record:
            raise LogError(f"{here}: no 'msg'")
        at = _time(record, here)
        msg = record["msg"]
        if msg == "PeerID":
            node_id = record.get("node_id")
            if not isinstance(node_id, int) or not isinstance(record.get("id"), str):
                raise LogError(f"{here}: PeerID needs 'id' (string) and 'node_id' (integer)")
            log = NodeLog(node_id, record["id"])
            continue
        if log is None:
            raise LogError(f"{here}: {msg!r} before the PeerID line")
        if msg == "Received Message":
            msg_id = record.get("id")
            if not isinstance(msg_id, str) or not msg_id.isdigit():
                raise LogError(f"{here}: 'id' must be a base-10 integer string")
            if msg_id in log.first_receipt:
                log.duplicates[msg_id] = log.duplicates.get(msg_id, 0) + 1
            else:
                log.first_receipt[msg_id] = at
        elif msg == "Published Message":
            log.published[str(record.get("id"))] = (at, str(record.get("topic")))
    if log is None:
        raise LogError(f"{where}: no PeerID line")
    return log


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Summary:
    messages: int
    expected_deliveries: int
    deliveries: int
    #: deliveries / expected (subscribers of the topic other than the publisher)
    reliability: float
    #: from the publisher's publish to each subscriber's first copy, seconds
    latency_p50: float
    latency_p99: float
    latency_max: float
    #: copies received after the first (publisher's echoes included) per delivery
    duplicates_per_delivery: float
    #: the harness' own figures: mean over messages of (last - first delivery), of the p50 of that
    #: spread, of duplicates / node count, and of deliveries / (node count - 1)
    harness_spread_mean: float
    harness_spread_p50_mean: float
    harness_avg_duplicates: float
    harness_reached: float
    missing: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["missing"] = [list(m) for m in self.missing]
        return out


def summarize(logs: list[NodeLog], subscribers: Mapping[str, set[int]]) -> Summary:
    nodes = {log.node_id: log for log in logs}
    node_count = len(nodes)
    published: dict[str, tuple[int, datetime, str]] = {}
    for log in logs:
        for msg_id, (at, topic) in log.published.items():
            published[msg_id] = (log.node_id, at, topic)
    latencies: list[float] = []
    missing: list[tuple[str, int]] = []
    expected = delivered = duplicates = 0
    spreads: list[float] = []
    spread_p50s: list[float] = []
    harness_dups: list[float] = []
    reached: list[float] = []
    for msg_id, (publisher, published_at, topic) in sorted(published.items(), key=lambda kv: int(kv[0])):
        receivers = subscribers.get(topic, set()) - {publisher}
        expected += len(receivers)
        times: list[datetime] = []
        msg_dups = 0
        for node_id, log in nodes.items():
            msg_dups += log.duplicates.get(msg_id, 0)
            first = log.first_receipt.get(msg_id)
            if first is None:
                if node_id in receivers:
                    missing.append((msg_id, node_id))
                continue
            times.append(first)
            if node_id == publisher:
                msg_dups += 1  # its own message came back: a copy it did not need
                continue
            if node_id in receivers:
                delivered += 1
                latencies.append((first - published_at).total_seconds())
        duplicates += msg_dups
        times.sort()
        if times:
            spreads.append((times[-1] - times[0]).total_seconds())
            spread_p50s.append((times[len(times) // 2] - times[0]).total_seconds())
        harness_dups.append(msg_dups / node_count if node_count else 0.0)
        reached.append(min(1.0, len(times) / (node_count - 1)) if node_count > 1 else 0.0)
    mean = statistics.fmean
    return Summary(
        messages=len(published),
        expected_deliveries=expected,
        deliveries=delivered,
        reliability=delivered / expected if expected else float("nan"),
        latency_p50=_quantile(latencies, 0.50),
        latency_p99=_quantile(latencies, 0.99),
        latency_max=max(latencies) if latencies else float("nan"),
        duplicates_per_delivery=duplicates / delivered if delivered else float("nan"),
        harness_spread_mean=mean(spreads) if spreads else float("nan"),
        harness_spread_p50_mean=mean(spread_p50s) if spread_p50s else float("nan"),
        harness_avg_duplicates=mean(harness_dups) if harness_dups else float("nan"),
        harness_reached=mean(reached) if reached else float("nan"),
        missing=tuple(missing),
    )


def load_logs(folder: Path) -> list[NodeLog]:
    """Every ``*.stdout`` in ``folder`` (the runner writes ``node<N>.stdout``)."""
    logs = []
    for path in sorted(folder.glob("*.stdout")):
        with path.open(encoding="utf-8") as f:
            logs.append(parse_log(f, path.name))
    return logs
