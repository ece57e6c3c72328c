"""Diagrams drawn from the code: the layer-norm placement, the input transformations."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

from gpt_lesson.config import PRESETS
from gpt_lesson.figures.diagrams import (
    block_nodes,
    plot_input_transformations,
    plot_layer_norm_placement,
    task_layouts,
)


def kinds(config):
    nodes, residuals = block_nodes(config)
    return [node.kind for node in nodes], residuals


def test_post_ln_normalises_after_each_sum_and_pre_ln_before_each_branch():
    post, post_residuals = kinds(dataclasses.replace(PRESETS["lesson"], normalize_first=False))
    pre, pre_residuals = kinds(PRESETS["lesson"])
    assert post == ["tensor", "sublayer", "add", "norm", "sublayer", "add", "norm", "tensor"]
    assert pre == ["tensor", "norm", "sublayer", "add", "norm", "sublayer", "add", "tensor"]
    # Each residual connection ends in a sum and skips exactly one branch.
    for layout, residuals in ((post, post_residuals), (pre, pre_residuals)):
        for start, end in residuals:
            assert layout[end] == "add"
            assert layout[start + 1 : end].count("sublayer") == 1


def test_the_diagram_shows_the_sizes_of_the_config_it_is_given():
    config = PRESETS["quick"]
    figure = plot_layer_norm_placement(config)
    texts = [text.get_text() for axis in figure.axes for text in axis.texts]
    assert [axis.get_title().split("\n")[0] for axis in figure.axes] == [
        "post-LN (GPT-1, the blog)",
        "pre-LN (GPT-2)",
    ]
    expected = f"{config.hidden_dim} → {config.intermediate_dim} → {config.hidden_dim}"
    assert sum(expected in text for text in texts) == 2
    assert sum(text == f"layer norm ({config.hidden_dim})" for text in texts) == 4


def test_the_input_transformations_are_read_back_from_the_package_functions():
    layouts = task_layouts()
    assert layouts["classification (CoLA)"] == [["start", "Text", "extract"]]
    assert layouts["entailment"] == [["start", "Premise", "delimiter", "Hypothesis", "extract"]]
    first, second = layouts["similarity"]
    assert first[1] == second[3] == "Text 1"  # both orders
    assert [sequence[3] for sequence in layouts["multiple choice"]] == [
        "Answer 1",
        "Answer 2",
        "Answer 3",
    ]


def test_the_input_transformations_figure_has_one_transformer_per_sequence():
    figure = plot_input_transformations()
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts.count("Transformer") == sum(len(s) for s in task_layouts().values()) == 7
    assert texts.count("softmax") == 1 and "similarity" in texts
