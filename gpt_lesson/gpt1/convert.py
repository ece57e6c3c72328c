"""The released GPT-1 and GPT-2 in the book's model: Hugging Face checkpoints -> presets.

A checkpoint folder of ``openai-community/openai-gpt`` or ``openai-community/gpt2`` holds
``config.json``, ``model.safetensors`` and the tokenizer's ``vocab.json`` and
``merges.txt``. :func:`convert_checkpoint` turns one into a preset that
``GPT1CausalLM.from_preset`` (and ``load_checkpoint``) loads: the same ``GPT1Backbone`` the
book trains, post-LN for GPT-1, pre-LN with a final layer norm for GPT-2, both with the
output tied to the token embedding and GELU's tanh approximation.

The module follows the shape of KerasHub's own converters
(``keras_hub/src/utils/transformers/convert_gpt2.py``): :func:`convert_backbone_config`,
:func:`convert_weights`, :func:`convert_tokenizer`. What the formats hold:

- tensors ``tokens_embed`` and ``positions_embed`` (GPT-1) or ``wte``, ``wpe`` and ``ln_f``
  (GPT-2), and per block ``h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
  mlp.c_proj}``; some files prefix them all with ``transformer.``, some GPT-2 files add
  the attention-mask buffers ``h.N.attn.bias`` and ``h.N.attn.masked_bias``, which are
  not weights;
- Conv1D weights stored [in, out], the orientation of a Keras kernel; ``c_attn`` holds the
  query, key and value projections side by side;
- the layer norm's ε and the context length in ``config.json``.

The tokenizers get rows the checkpoints lack: GPT-2's the book's pad, start and end,
GPT-1's a pad and the paper's fine-tuning tokens (``gpt_lesson.tokenizer.gpt1``). Each new
row is the mean of the released token embeddings, so its logit is the mean logit and
sampling never prefers it; fine-tuning draws the paper's start, delimiter and extract rows
anew (``gpt_lesson.gpt1.classifier.extend_checkpoint``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from gpt_lesson._keras_hub import block_parts
from gpt_lesson.config import GPTConfig
from gpt_lesson.gpt1.backbone import GPT1Backbone
from gpt_lesson.gpt1.causal_lm import GPT1CausalLM
from gpt_lesson.gpt1.causal_lm_preprocessor import GPT1CausalLMPreprocessor
from gpt_lesson.tokenizer.gpt1 import gpt1_tokenizer_from_files
from gpt_lesson.tokenizer.gpt2 import gpt2_tokenizer_from_files, read_vocabulary

HUB = "hf://"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
PICKLED_WEIGHTS = "pytorch_model.bin"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
PREFIX = "transformer."
NOT_WEIGHTS = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers
TO_SAFETENSORS = (
    'python -c "import torch; from safetensors.torch import save_file; '
    "save_file({{k: v.clone() for k, v in torch.load('{bin}', weights_only=True).items()}}, "
    "'{out}')\""
)


class ConversionError(ValueError):
    """A checkpoint folder that cannot be converted; the message says what to do."""


@dataclass(frozen=True)
class Architecture:
    """What differs between GPT-1's and GPT-2's checkpoints."""

    name: str
    token_embedding: str
    position_embedding: str
    final_norm: str | None  # GPT-2's ln_f (pre-LN); GPT-1 is post-LN and has none
    activation_field: str  # config.json's name for the activation
    tanh_gelu: tuple[str, ...]  # its values that mean GELU's tanh approximation
    tokenizer_from_files: Callable[[Path, Path], keras.layers.Layer]


ARCHITECTURES = {
    "openai-gpt": Architecture(
        "GPT-1", "tokens_embed", "positions_embed", None, "afn", ("gelu",),
        gpt1_tokenizer_from_files,
    ),
    "gpt2": Architecture(
        "GPT-2", "wte", "wpe", "ln_f", "activation_function", ("gelu_new", "gelu_pytorch_tanh"),
        gpt2_tokenizer_from_files,
    ),
}  # fmt: skip


def architecture_of(transformers_config: dict) -> Architecture:
    """The architecture ``config.json``'s ``model_type`` names; refuses any other."""
    model_type = transformers_config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ConversionError(
            f"config.json's model_type is {model_type!r}; this converter handles "
            "'openai-gpt' (GPT-1) and 'gpt2' (GPT-2) only."
        )
    return ARCHITECTURES[model_type]


def field(transformers_config: dict, name: str) -> int:
    """A field ``config.json`` must hold."""
    if name not in transformers_config:
        raise ConversionError(
            f"config.json has no {name!r}: it is not a whole Hugging Face config; download "
            "the checkpoint folder again."
        )
    return transformers_config[name]


def convert_backbone_config(transformers_config: dict, vocab_size: int) -> GPTConfig:
    """The ``GPTConfig`` of a checkpoint whose tokenizer has ``vocab_size`` ids."""
    architecture = architecture_of(transformers_config)
    activation = transformers_config.get(architecture.activation_field)
    if activation not in architecture.tanh_gelu:
        raise ConversionError(
            f"config.json's {architecture.activation_field} is {activation!r}; {architecture.name} "
            f"uses GELU's tanh approximation ({' or '.join(map(repr, architecture.tanh_gelu))})."
        )
    width = field(transformers_config, "n_embd")
    return GPTConfig(
        vocab_size=vocab_size,
        sequence_length=field(transformers_config, "n_positions"),
        hidden_dim=width,
        num_layers=field(transformers_config, "n_layer"),
        num_heads=field(transformers_config, "n_head"),
        intermediate_dim=transformers_config.get("n_inner") or 4 * width,
        dropout=transformers_config.get("resid_pdrop", 0.1),
        normalize_first=architecture.final_norm is not None,
        activation="gelu_approximate",
        layer_norm_epsilon=field(transformers_config, "layer_norm_epsilon"),
        initializer_range=transformers_config.get("initializer_range", 0.02),
    )


class Tensors:
    """A checkpoint's tensors by name, without the ``transformer.`` prefix and the mask
    buffers; each read checks the tensor is there with the shape the config implies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            stored = load_file(path)
        except SafetensorError as error:
            raise ConversionError(
                f"{path} cannot be read ({error}): download the checkpoint again."
            ) from None
        self.tensors = {
            name.removeprefix(PREFIX): tensor
            for name, tensor in stored.items()
            if not name.endswith(NOT_WEIGHTS)
        }

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in self.tensors:
            raise ConversionError(
                f"{self.path} has no tensor {name!r}: the file is damaged or holds another "
                "model than config.json describes; download the checkpoint again."
            )
        tensor = self.tensors[name]
        if tensor.shape != shape:
            raise ConversionError(
                f"{self.path}: tensor {name!r} has shape {list(tensor.shape)}, but config.json "
                f"implies {list(shape)}: the weights and config.json come from different models."
            )
        return tensor

    def port(self, variable, name: str, shape: tuple[int, ...]) -> None:
        """Copy tensor ``name`` (stored with ``shape``) into ``variable``, reshaped."""
        variable.assign(np.reshape(self.get(name, shape), variable.shape))


def port_layer_norm(norm: keras.layers.LayerNormalization, tensors: Tensors, name: str) -> None:
    width = norm.gamma.shape[0]
    tensors.port(norm.gamma, f"{name}.weight", (width,))
    tensors.port(norm.beta, f"{name}.bias", (width,))


def port_dense(dense: keras.layers.Layer, tensors: Tensors, name: str, shape: tuple) -> None:
    """A Conv1D's weight, stored [in, out] like a Keras kernel, and its bias."""
    tensors.port(dense.kernel, f"{name}.weight", shape)
    tensors.port(dense.bias, f"{name}.bias", shape[-1:])


def port_attention(attention, tensors: Tensors, name: str, width: int) -> None:
    """``c_attn`` [d, 3d] holds the query, key and value projections side by side; each
    becomes a Keras kernel (d, heads, head_dim), and ``c_proj`` the output's."""
    weight = tensors.get(f"{name}.c_attn.weight", (width, 3 * width))
    bias = tensors.get(f"{name}.c_attn.bias", (3 * width,))
    parts = (attention.query_dense, attention.key_dense, attention.value_dense)
    for dense, kernel, offset in zip(
        parts, np.split(weight, 3, axis=1), np.split(bias, 3), strict=True
    ):
        dense.kernel.assign(np.reshape(kernel, dense.kernel.shape))
        dense.bias.assign(np.reshape(offset, dense.bias.shape))
    port_dense(attention.output_dense, tensors, f"{name}.c_proj", (width, width))


def convert_weights(backbone: GPT1Backbone, tensors: Tensors, transformers_config: dict) -> None:
    """Every weight of ``backbone`` from the checkpoint's tensors; the token embedding's
    rows past the checkpoint's vocabulary get the mean of its rows."""
    architecture = architecture_of(transformers_config)
    config = backbone.gpt_config
    width, inner = config.hidden_dim, config.intermediate_dim
    released = field(transformers_config, "vocab_size")
    tokens = tensors.get(f"{architecture.token_embedding}.weight", (released, width))
    new_rows = np.repeat(tokens.mean(axis=0, keepdims=True), config.vocab_size - released, 0)
    backbone.embedding.token_embedding.embeddings.assign(np.concatenate([tokens, new_rows]))
    tensors.port(
        backbone.embedding.position_embedding.position_embeddings,
        f"{architecture.position_embedding}.weight",
        (config.sequence_length, width),
    )
    for index, block in enumerate(backbone.transformer_layers):
        parts, name = block_parts(block), f"h.{index}"
        port_layer_norm(parts.attention_norm, tensors, f"{name}.ln_1")
        port_attention(parts.self_attention, tensors, f"{name}.attn", width)
        port_layer_norm(parts.feedforward_norm, tensors, f"{name}.ln_2")
        port_dense(parts.feedforward_in, tensors, f"{name}.mlp.c_fc", (width, inner))
        port_dense(parts.feedforward_out, tensors, f"{name}.mlp.c_proj", (inner, width))
    if architecture.final_norm is not None:
        port_layer_norm(backbone.final_layer_norm, tensors, architecture.final_norm)


def convert_tokenizer(folder: Path, transformers_config: dict) -> keras.layers.Layer:
    """The checkpoint's tokenizer, with the rows the book adds; its vocabulary file must
    fit the token embedding."""
    vocabulary, merges = (folder / name for name in TOKENIZER_FILES)
    released, size = field(transformers_config, "vocab_size"), len(read_vocabulary(vocabulary))
    if size != released:
        raise ConversionError(
            f"{vocabulary} holds {size:,} tokens but config.json's vocab_size is "
            f"{released:,}: the tokenizer and the weights come from different models."
        )
    return architecture_of(transformers_config).tokenizer_from_files(vocabulary, merges)


def check_folder(folder: Path) -> None:
    """Refuse a folder that lacks a file the conversion reads, saying how to get it."""
    if not folder.is_dir():
        raise ConversionError(
            f"{folder}: no such folder. Pass a Hugging Face checkpoint folder (config.json, "
            f"{WEIGHTS}, vocab.json, merges.txt) or a handle such as hf://openai-community/gpt2."
        )
    if not (folder / CONFIG).is_file():
        raise ConversionError(f"{folder} holds no {CONFIG}: it is not a Hugging Face checkpoint.")
    if not (folder / WEIGHTS).is_file():
        pickled = folder / PICKLED_WEIGHTS
        if pickled.is_file():
            command = TO_SAFETENSORS.format(bin=pickled, out=folder / WEIGHTS)
            raise ConversionError(
                f"{folder} holds {PICKLED_WEIGHTS} but no {WEIGHTS}; this converter reads "
                "safetensors only (a .bin file is a pickle, which can run code when loaded). "
                f"Convert it where PyTorch is installed: {command}"
            )
        raise ConversionError(f"{folder} holds no {WEIGHTS}: download the checkpoint again.")
    for name in TOKENIZER_FILES:
        if not (folder / name).is_file():
            raise ConversionError(
                f"{folder} holds no {name}, one of the tokenizer's files: download it with "
                "the checkpoint (the Hub's model folders hold vocab.json and merges.txt)."
            )


def read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConversionError(f"{folder / CONFIG} is not valid JSON ({error}).") from error


def download(handle: str) -> Path:
    """The files of ``hf://owner/name`` from the Hugging Face Hub (or its local cache)."""
    repository = handle.removeprefix(HUB)
    try:
        import huggingface_hub
    except ImportError:
        raise ConversionError(
            f"{handle} needs the huggingface_hub package: pip install huggingface_hub, or "
            "download the folder another way and pass it instead."
        ) from None
    try:
        path = huggingface_hub.snapshot_download(
            repository, allow_patterns=[CONFIG, WEIGHTS, *TOKENIZER_FILES]
        )
    except OSError as error:  # offline, no such repository, or the Hub failing
        reason = str(error).splitlines()[0]
        raise ConversionError(
            f"cannot download {handle} ({reason}). This needs a machine connected to "
            f"huggingface.co: download the folder there (`hf download {repository} "
            f"{CONFIG} {WEIGHTS} {' '.join(TOKENIZER_FILES)} --local-dir FOLDER`) and pass "
            "FOLDER instead."
        ) from None
    return Path(path)


def check_new_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConversionError(f"{out} already exists: pass a new folder, or remove this one.")


def save_new_preset(task: keras.Model, out: Path) -> None:
    """``task.save_to_preset`` into the new folder ``out``, whole or not at all: the files
    are written into a temporary folder beside it, renamed to ``out`` when all are there."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.convert-"))
    try:
        task.save_to_preset(str(staging))
        os.replace(staging, out)  # an empty ``out`` is replaced too
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_checkpoint` wrote."""

    out: Path  # the preset folder
    model_type: str  # config.json's: "openai-gpt" (GPT-1) or "gpt2" (GPT-2)
    config: GPTConfig


def convert_checkpoint(source: str | Path, out: str | Path) -> Conversion:
    """Convert the checkpoint folder ``source`` (or ``hf://owner/name``, downloaded) into a
    new preset folder ``out``. Every way the files can be wrong is a
    :class:`ConversionError` that names the file or tensor and says what to do."""
    out = Path(out)
    check_new_folder(out)
    folder = download(source) if str(source).startswith(HUB) else Path(source)
    check_folder(folder)
    transformers_config = read_config(folder)
    tokenizer = convert_tokenizer(folder, transformers_config)
    config = convert_backbone_config(transformers_config, tokenizer.vocabulary_size())
    backbone = GPT1Backbone(config)
    convert_weights(backbone, Tensors(folder / WEIGHTS), transformers_config)
    preprocessor = GPT1CausalLMPreprocessor(tokenizer, config.sequence_length)
    save_new_preset(GPT1CausalLM(backbone, preprocessor), out)
    return Conversion(out, transformers_config["model_type"], config)
