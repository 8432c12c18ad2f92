"""Where mg.plot.graph puts each node: layers by longest path from the inputs.

A node's rank is the length of the longest path to it from an input:

    rank(input) = 0,    rank(node) = 1 + max(rank(source) for source in node.inputs)

so every edge points down at least one rank, inputs sit in the top row and
every node sits below all the nodes it reads. The outputs are then moved down
to the last row (unless another node reads them), so that they end the
picture. Within a row, nodes are ordered by the mean position of their
sources (the barycentre rule), which keeps most edges from crossing; inputs
keep the graph's order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minigrad.graph import Graph


def layered(model: Graph) -> dict[str, tuple[int, float]]:
    """``{node name: (rank, x)}``: row from the top (inputs 0) and position in the row,
    centred on 0 with unit spacing."""
    rank: dict[int, int] = {}
    for node in model.nodes:  # topological order: sources come first
        rank[id(node)] = 1 + max((rank[id(s)] for s in node.inputs), default=-1)
    last = max(rank.values())
    read = {id(s) for node in model.nodes for s in node.inputs}
    for node in model.output_nodes:
        if id(node) not in read:  # an output that another node reads stays above it
            rank[id(node)] = last
    rows: dict[int, list[int]] = {}
    x: dict[int, float] = {}
    for node in model.nodes:
        rows.setdefault(rank[id(node)], []).append(id(node))
    by_id = {id(node): node for node in model.nodes}
    for r in sorted(rows):
        row = rows[r]
        if r > 0:
            def centre(key: int) -> float:
                sources = [x[id(s)] for s in by_id[key].inputs if id(s) in x]
                return sum(sources) / len(sources) if sources else 0.0
            row.sort(key=centre)
        for i, key in enumerate(row):
            x[key] = i - (len(row) - 1) / 2
    return {str(by_id[key].name): (rank[key], x[key]) for key in rank}
