"""Diagrams drawn from a config, so that they show the sizes the code builds.

`plot_layer_norm_placement` draws one decoder block twice, post-LN (GPT-1's layout, and the
blog's) beside pre-LN (GPT-2's), with the tensor and layer sizes of the config it is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from gpt_lesson.config import GPTConfig

COLOURS = {"tensor": "white", "sublayer": "#a6c8e8", "norm": "#f6b26b"}
# In units of the vertical distance between steps, drawn at equal aspect so the sum is round.
CENTRE, BOX_WIDTH, RESIDUAL_X, ADD_RADIUS, PANEL_WIDTH = 2.9, 3.8, 5.3, 0.17, 5.8


@dataclass(frozen=True)
class Node:
    """One step of a block, drawn as a box (or a circle for the residual sum)."""

    label: str
    kind: str  # "tensor", "sublayer", "norm" or "add"


def block_nodes(config: GPTConfig) -> tuple[list[Node], list[tuple[int, int]]]:
    """The steps of one block from input to output, and its residual connections.

    A residual connection (i, j) carries the tensor that enters step i + 1 around the
    steps between, into the sum at step j.
    """
    t, d = config.sequence_length, config.hidden_dim
    enters = Node(f"$h_{{l-1}}$: {t} positions × {d}", "tensor")
    attention = Node(
        f"masked self-attention\n{config.num_heads} heads × {config.head_dim}", "sublayer"
    )
    feed_forward = Node(
        f"feed-forward, {config.activation.upper()}\n{d} → {config.intermediate_dim} → {d}",
        "sublayer",
    )
    norm, add = Node(f"layer norm ({d})", "norm"), Node("+", "add")
    leaves = Node(f"$h_l$: {t} positions × {d}", "tensor")
    if config.normalize_first:
        return [enters, norm, attention, add, norm, feed_forward, add, leaves], [(0, 3), (3, 6)]
    return [enters, attention, add, norm, feed_forward, add, norm, leaves], [(0, 2), (3, 5)]


def plot_layer_norm_placement(config: GPTConfig) -> Figure:
    """Post-LN and pre-LN blocks of `config`'s sizes side by side, input at the bottom."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 7), layout="constrained")
    titles = {
        False: "post-LN (GPT-1, the blog)\nnormalise after each sum",
        True: "pre-LN (GPT-2)\nnormalise each branch's input",
    }
    for axis, normalize_first in zip(axes, (False, True), strict=True):
        _draw_block(
            axis, *block_nodes(dataclasses.replace(config, normalize_first=normalize_first))
        )
        axis.set_title(titles[normalize_first], fontsize=12)
    axes[1].text(
        0.5,
        -0.02,
        "and one more layer norm\nafter the last block",
        transform=axes[1].transAxes,
        ha="center",
        va="top",
        fontsize=10,
        style="italic",
    )
    return figure


def _draw_block(axis: Axes, nodes: list[Node], residuals: list[tuple[int, int]]) -> None:
    heights = [0.62 if node.kind == "sublayer" else 0.4 for node in nodes]
    for y, (node, height) in enumerate(zip(nodes, heights, strict=True)):
        if node.kind == "add":
            axis.add_patch(Circle((CENTRE, y), ADD_RADIUS, facecolor="white", edgecolor="black"))
        else:
            axis.add_patch(
                FancyBboxPatch(
                    (CENTRE - BOX_WIDTH / 2, y - height / 2),
                    BOX_WIDTH,
                    height,
                    boxstyle="round,pad=0.02",
                    facecolor=COLOURS[node.kind],
                    edgecolor="black",
                )
            )
        axis.text(
            CENTRE,
            y,
            node.label,
            ha="center",
            va="center",
            fontsize=10 if node.kind != "add" else 14,
        )
        if y:
            below = ADD_RADIUS if nodes[y - 1].kind == "add" else heights[y - 1] / 2
            here = ADD_RADIUS if node.kind == "add" else height / 2
            axis.annotate(
                "",
                (CENTRE, y - here),
                (CENTRE, y - 1 + below),
                arrowprops={"arrowstyle": "->", "color": "black"},
            )
    for start, end in residuals:
        branch = start + 0.5
        axis.plot([CENTRE, RESIDUAL_X, RESIDUAL_X], [branch, branch, end], color="#444444", lw=1.4)
        axis.annotate(
            "",
            (CENTRE + ADD_RADIUS, end),
            (RESIDUAL_X, end),
            arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 1.4},
        )
    axis.set_xlim(0, PANEL_WIDTH)
    axis.set_ylim(-0.5, len(nodes) - 0.5)
    axis.set_aspect("equal")
    axis.axis("off")
