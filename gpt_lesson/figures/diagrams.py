"""Diagrams drawn from a config, so that they show the sizes the code builds.

`plot_layer_norm_placement` draws one decoder block twice, post-LN (GPT-1's layout, and the
blog's) beside pre-LN (GPT-2's), with the tensor and layer sizes of the config it is given.
`plot_input_transformations` draws the paper's Figure 1 (right) from the input
transformations of `gpt_lesson.tasks.transformations`, so that the picture is what the code builds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from gpt_lesson.config import GPTConfig
from gpt_lesson.tasks.transformations import (
    SPECIAL,
    SpecialIds,
    classification_input,
    entailment_input,
    multiple_choice_inputs,
    similarity_inputs,
)

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


# --- The paper's Figure 1 (right): one model, four input layouts ------------------------

TOKEN_COLOURS = {"start": "#b6d7a8", "delimiter": "#ffe599", "extract": "#ea9999", "text": "white"}
WIDTH = 14.5  # the drawing's width, in units of one sequence row
TASK_TEXTS = {
    "classification (CoLA)": ("Text",),
    "entailment": ("Premise", "Hypothesis"),
    "similarity": ("Text 1", "Text 2"),
    "multiple choice": ("Context", "Answer 1", "Answer 2", "Answer 3"),
}


def task_layouts(special: SpecialIds = SPECIAL) -> dict[str, list[list[str]]]:
    """Each task's input sequences as segment names, built by the package's own
    transformations: one stand-in id per text, read back as its name."""
    layouts = {}
    for task, texts in TASK_TEXTS.items():
        ids = {name: [-1 - i] for i, name in enumerate(texts)}  # never a real token id
        pieces = [ids[name] for name in texts]
        if task.startswith("classification"):
            sequences = [classification_input(pieces[0], special)]
        elif task == "entailment":
            sequences = [entailment_input(*pieces, special)]
        elif task == "similarity":
            sequences = list(similarity_inputs(*pieces, special))
        else:
            sequences = multiple_choice_inputs(pieces[0], pieces[1:], special)
        names = {
            special.start: "start",
            special.delimiter: "delimiter",
            special.extract: "extract",
            **{i[0]: name for name, i in ids.items()},
        }
        layouts[task] = [[names[i] for i in sequence] for sequence in sequences]
    return layouts


def plot_input_transformations(special: SpecialIds = SPECIAL) -> Figure:
    """The four tasks' inputs, the Transformer each sequence goes through, and the head:
    one linear layer, on the sum of both orders for similarity, and a softmax over the
    answers for multiple choice. The tasks are stacked, so that they stay legible on a
    phone."""
    layouts = task_layouts(special)
    top = sum(len(sequences) + 1.0 for sequences in layouts.values())
    figure, axis = plt.subplots(figsize=(7.5, 7.5 * (top + 0.2) / WIDTH), layout="constrained")
    for task, sequences in layouts.items():
        top -= len(sequences) + 1.0
        _draw_task(axis, task, sequences, bottom=top)
    axis.set_xlim(-0.1, WIDTH - 0.1)
    axis.set_ylim(-0.5, sum(len(s) + 1.0 for s in layouts.values()) - 0.3)
    axis.set_aspect("equal")
    axis.axis("off")
    return figure


def _box(axis: Axes, x: float, y: float, width: float, label: str, colour: str) -> None:
    axis.add_patch(
        FancyBboxPatch(
            (x, y - 0.32),
            width,
            0.64,
            boxstyle="round,pad=0.02",
            facecolor=colour,
            edgecolor="black",
        )
    )
    axis.text(x + width / 2, y, label, ha="center", va="center", fontsize=11)


def _arrow(axis: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    axis.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "black"})


def _draw_task(axis: Axes, task: str, sequences: list[list[str]], bottom: float) -> None:
    widths = {"start": 0.95, "delimiter": 1.2, "extract": 1.25}
    transformer_x, head_x, transformer = 8.3, 11.1, 2.1  # where, and how wide
    rows = [bottom + len(sequences) - 1 - r for r in range(len(sequences))]  # first on top
    for y, sequence in zip(rows, sequences, strict=True):
        x = 0.0
        for segment in sequence:
            width = widths.get(segment, 1.75)
            colour = TOKEN_COLOURS.get(segment, TOKEN_COLOURS["text"])
            label = "Delim" if segment == "delimiter" else segment.capitalize()
            _box(axis, x, y, width, label, colour)
            x += width + 0.08
        _arrow(axis, (x, y), (transformer_x, y))
        _box(axis, transformer_x, y, transformer, "Transformer", COLOURS["sublayer"])
    middle = bottom + (len(sequences) - 1) / 2
    if task == "similarity":
        add_x = head_x - 0.3
        axis.add_patch(Circle((add_x, middle), ADD_RADIUS * 1.4, facecolor="white", ec="black"))
        axis.text(add_x, middle, "+", ha="center", va="center", fontsize=12)
        for y in rows:
            _arrow(axis, (transformer_x + transformer, y), (add_x - 0.2, middle))
        _arrow(axis, (add_x + 0.25, middle), (head_x + 0.6, middle))
        _box(axis, head_x + 0.6, middle, 1.3, "Linear", COLOURS["norm"])
    elif task == "multiple choice":
        for y in rows:
            _arrow(axis, (transformer_x + transformer, y), (head_x, y))
            _box(axis, head_x, y, 1.3, "Linear", COLOURS["norm"])
            _arrow(axis, (head_x + 1.3, y), (head_x + 1.9, middle))
        _box(axis, head_x + 1.9, middle, 1.3, "softmax", "white")
    else:
        _arrow(axis, (transformer_x + transformer, middle), (head_x, middle))
        _box(axis, head_x, middle, 1.3, "Linear", COLOURS["norm"])
    axis.text(0.0, bottom + len(sequences) - 0.45, task, fontsize=13, va="bottom")
