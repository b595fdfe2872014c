"""Valves to close to isolate a pipe: a breadth-first search over the pipe network.

The network is a graph: nodes (junctions, valves, sources such as a plant or a tank) joined
by pipes. From both ends of the broken pipe the search walks pipes outward and stops at
every valve (closing it bounds the segment). The answer lists those valves, the segment's
pipes, and the pipes beyond them that the sources no longer reach once they are shut
(`cut_off`): all of them run dry. Cycles are walked once (visited set). If the search
reaches a source, water keeps flowing in past every closable valve: the answer says
`isolable = False` and names the sources reached (close at the plant, or add a valve). A
network with no valve at all is the same case when it has a source; without a source the
whole component is the segment.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

Node = Hashable


@dataclass(frozen=True)
class Isolation:
    """Which valves to close for one pipe, what goes dry, and whether it works at all."""

    pipe: Hashable
    valves: frozenset[Node]
    pipes: frozenset[Hashable]
    isolable: bool
    sources_reached: frozenset[Node] = field(default_factory=frozenset)
    # Pipes beyond the closed valves that only the isolated stretch fed: dry too.
    cut_off: frozenset[Hashable] = field(default_factory=frozenset)


def isolate(
    pipes: Mapping[Hashable, tuple[Node, Node]],
    valves: Iterable[Node],
    pipe: Hashable,
    sources: Iterable[Node] = (),
    shut: Iterable[Node] = (),
) -> Isolation:
    """Return the valves that isolate `pipe` (pipes: id -> (node, node)).

    `shut`: valves already closed (zone boundaries): no water passes them, before or after.
    """
    if pipe not in pipes:
        raise KeyError(f"unknown pipe {pipe!r}")
    valve_set, source_set = frozenset(valves), frozenset(sources)
    at: dict[Node, list[Hashable]] = {}
    for pid, (a, b) in pipes.items():
        at.setdefault(a, []).append(pid)
        at.setdefault(b, []).append(pid)
    closed: set[Node] = set()
    reached: set[Node] = set()
    dry: set[Hashable] = {pipe}
    seen: set[Node] = set()
    queue: deque[Node] = deque(pipes[pipe])
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        if node in valve_set:
            closed.add(node)  # the boundary: do not walk through a closed valve
            continue
        if node in source_set:
            reached.add(node)
        for pid in at.get(node, ()):
            if pid not in dry:
                dry.add(pid)
                queue.extend(n for n in pipes[pid] if n not in seen)
    cut_off: set[Hashable] = set()
    if source_set and not reached:
        # Beyond the closed valves, what only the closed stretch fed goes dry too: every pipe
        # the sources reached before and no longer reach once the valves are shut.
        already = frozenset(shut)
        before = _wet(pipes, at, source_set, already, frozenset())
        after = _wet(pipes, at, source_set, already | closed, frozenset(dry))
        cut_off = before - after - dry
    return Isolation(
        pipe=pipe,
        valves=frozenset(closed),
        pipes=frozenset(dry),
        isolable=not reached,
        sources_reached=frozenset(reached),
        cut_off=frozenset(cut_off),
    )


def _wet(
    pipes: Mapping[Hashable, tuple[Node, Node]],
    at: Mapping[Node, list[Hashable]],
    sources: frozenset[Node],
    closed: frozenset[Node],
    cut: frozenset[Hashable],
) -> set[Hashable]:
    """The pipes water from `sources` reaches, not through a `closed` valve nor a `cut` pipe."""
    wet: set[Hashable] = set()
    seen: set[Node] = set()
    queue: deque[Node] = deque(sources)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        for pid in at.get(node, ()):
            if pid in cut:
                continue
            wet.add(pid)  # water reaches a pipe up to a closed valve on it
            if node in closed:
                continue
            queue.extend(n for n in pipes[pid] if n not in seen and n not in closed)
    return wet
