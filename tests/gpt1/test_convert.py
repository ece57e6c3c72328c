"""The converter, offline: tiny GPT-1 and GPT-2 checkpoints written here in Hugging Face's
format (random weights, layer norms and biases perturbed so that a swap would show) become
presets whose logits equal a NumPy forward pass written from the models' equations; every
mistake in a checkpoint folder is one message and exit status 2, with no output left
behind; a converted GPT-1 generates, fine-tunes on CoLA and classifies."""

import json
from pathlib import Path

import numpy as np
import pytest
from keras import ops
from safetensors.numpy import save_file

from gpt_lesson.__main__ import main
from gpt_lesson.config import parameter_count
from gpt_lesson.gpt1.convert import convert_checkpoint
from gpt_lesson.gpt1.presets import load_checkpoint
from gpt_lesson.pretraining.generate import generate_texts
from gpt_lesson.tokenizer.gpt1 import GPT1Tokenizer
from gpt_lesson.tokenizer.gpt2 import BookGPT2Tokenizer

WIDTH, HEADS, LAYERS, CONTEXT = 8, 2, 2, 16
EPSILON = 1e-3  # not the default, so that reading it from config.json is tested


def random_tensors(model_type: str, vocab: int, seed: int) -> dict[str, np.ndarray]:
    """Every weight of a Hugging Face checkpoint, by its name there, Conv1D weights [in, out]."""
    rng = np.random.default_rng(seed)

    def normal(*shape, scale=0.3):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    def norm(name):  # perturbed, so a gamma taken for a beta (or ln_1 for ln_2) shows
        return {f"{name}.weight": 1 + normal(WIDTH, scale=0.2), f"{name}.bias": normal(WIDTH)}

    gpt2 = model_type == "gpt2"
    tensors = {
        ("wte" if gpt2 else "tokens_embed") + ".weight": normal(vocab, WIDTH, scale=1.0),
        ("wpe" if gpt2 else "positions_embed") + ".weight": normal(CONTEXT, WIDTH, scale=0.5),
    }
    inner = 4 * WIDTH
    for i in range(LAYERS):
        h = f"h.{i}"
        tensors |= norm(f"{h}.ln_1") | norm(f"{h}.ln_2")
        for name, (n_in, n_out) in {
            "attn.c_attn": (WIDTH, 3 * WIDTH),
            "attn.c_proj": (WIDTH, WIDTH),
            "mlp.c_fc": (WIDTH, inner),
            "mlp.c_proj": (inner, WIDTH),
        }.items():
            tensors[f"{h}.{name}.weight"] = normal(n_in, n_out)
            tensors[f"{h}.{name}.bias"] = normal(n_out, scale=0.2)
    if gpt2:
        tensors |= norm("ln_f")
    return tensors


def hf_config(model_type: str, vocab: int) -> dict:
    sizes = {"n_embd": WIDTH, "n_head": HEADS, "n_layer": LAYERS, "n_positions": CONTEXT}
    activation = (
        {"afn": "gelu"} if model_type == "openai-gpt" else {"activation_function": "gelu_new"}
    )
    return {"model_type": model_type, "vocab_size": vocab, "layer_norm_epsilon": EPSILON,
            **sizes, **activation}  # fmt: skip


@pytest.fixture
def write_checkpoint(write_tokenizer_files):
    """A function that writes a checkpoint folder as the Hub has them and returns its
    tensors (without the prefix)."""

    def write(folder: Path, model_type: str, prefix: str = "", buffers: bool = False):
        folder.mkdir(parents=True, exist_ok=True)
        vocab = write_tokenizer_files(folder, model_type)
        tensors = random_tensors(model_type, vocab, seed=len(prefix) + 2 * buffers)
        stored = {prefix + name: tensor for name, tensor in tensors.items()}
        if buffers:  # the attention-mask buffers some GPT-2 files carry
            for i in range(LAYERS):
                mask = np.tril(np.ones((CONTEXT, CONTEXT), np.float32))[None, None]
                stored[f"{prefix}h.{i}.attn.bias"] = mask
                stored[f"{prefix}h.{i}.attn.masked_bias"] = np.array(-1e4, np.float32)
        save_file(stored, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(hf_config(model_type, vocab)))
        return tensors

    return write


# --- The reference: the published equations in NumPy, float64 ----------------------------


def layer_norm(x, tensors, name):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    normalised = (x - mean) / np.sqrt(variance + EPSILON)
    return normalised * tensors[f"{name}.weight"] + tensors[f"{name}.bias"]


def conv1d(x, tensors, name):
    return x @ tensors[f"{name}.weight"] + tensors[f"{name}.bias"]


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def attention(x, tensors, name):
    length = x.shape[0]
    q, k, v = np.split(conv1d(x, tensors, f"{name}.c_attn"), 3, axis=-1)

    def heads(m):
        return m.reshape(length, HEADS, WIDTH // HEADS).transpose(1, 0, 2)

    scores = heads(q) @ heads(k).transpose(0, 2, 1) / np.sqrt(WIDTH // HEADS)
    scores = np.where(np.tril(np.ones((length, length), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    mixed = (weights @ heads(v)).transpose(1, 0, 2).reshape(length, WIDTH)
    return conv1d(mixed, tensors, f"{name}.c_proj")


def feed_forward(x, tensors, name):
    return conv1d(gelu_tanh(conv1d(x, tensors, f"{name}.c_fc")), tensors, f"{name}.c_proj")


def reference_logits(tensors: dict, model_type: str, ids: list[int]) -> np.ndarray:
    """GPT-1: h = LN(h + attn(h)), h = LN(h + mlp(h)). GPT-2: h = h + attn(LN(h)),
    h = h + mlp(LN(h)), then ln_f. Both: logits = h W_eᵀ."""
    tensors = {name: t.astype(np.float64) for name, t in tensors.items()}
    gpt2 = model_type == "gpt2"
    tokens = tensors["wte.weight" if gpt2 else "tokens_embed.weight"]
    positions = tensors["wpe.weight" if gpt2 else "positions_embed.weight"]
    h = tokens[ids] + positions[: len(ids)]
    for i in range(LAYERS):
        b = f"h.{i}"
        if gpt2:
            h = h + attention(layer_norm(h, tensors, f"{b}.ln_1"), tensors, f"{b}.attn")
            h = h + feed_forward(layer_norm(h, tensors, f"{b}.ln_2"), tensors, f"{b}.mlp")
        else:
            h = layer_norm(h + attention(h, tensors, f"{b}.attn"), tensors, f"{b}.ln_1")
            h = layer_norm(h + feed_forward(h, tensors, f"{b}.mlp"), tensors, f"{b}.ln_2")
    if gpt2:
        h = layer_norm(h, tensors, "ln_f")
    return h @ tokens.T


# --- Conversion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_type", "prefix", "buffers", "tokenizer_class"),
    [
        ("openai-gpt", "", False, GPT1Tokenizer),
        ("openai-gpt", "transformer.", False, GPT1Tokenizer),
        ("gpt2", "", True, BookGPT2Tokenizer),
        ("gpt2", "transformer.", True, BookGPT2Tokenizer),
        ("gpt2", "", False, BookGPT2Tokenizer),
    ],
)
def test_converted_logits_equal_the_numpy_reference(
    write_checkpoint, tmp_path, model_type, prefix, buffers, tokenizer_class
):
    tensors = write_checkpoint(tmp_path / "hf", model_type, prefix, buffers)
    checkpoint = load_checkpoint(convert_checkpoint(tmp_path / "hf", tmp_path / "preset").out)
    released = len(json.loads((tmp_path / "hf" / "vocab.json").read_text()))
    ids = np.random.default_rng(1).integers(0, released, CONTEXT).tolist()
    logits = ops.convert_to_numpy(checkpoint.model(np.asarray([ids], np.int32)))[0]
    np.testing.assert_allclose(
        logits[:, :released], reference_logits(tensors, model_type, ids), rtol=1e-5, atol=1e-5
    )
    # The rows the book appends are the mean row: their logit is the mean logit.
    mean_logit = logits[:, :released].mean(axis=-1, keepdims=True)
    appended = logits[:, released:]
    np.testing.assert_allclose(appended, np.broadcast_to(mean_logit, appended.shape), atol=1e-5)
    config = checkpoint.config
    assert (config.sequence_length, config.layer_norm_epsilon) == (CONTEXT, EPSILON)
    assert isinstance(checkpoint.tokenizer, tokenizer_class)
    assert checkpoint.tokenizer.vocab_size == config.vocab_size


@pytest.mark.parametrize("model_type", ["openai-gpt", "gpt2"])
def test_the_parameter_count_is_the_checkpoints_plus_the_new_rows(
    write_checkpoint, tmp_path, model_type
):
    tensors = write_checkpoint(tmp_path / "hf", model_type)
    checkpoint = load_checkpoint(convert_checkpoint(tmp_path / "hf", tmp_path / "preset").out)
    released = len(json.loads((tmp_path / "hf" / "vocab.json").read_text()))
    new_rows = checkpoint.config.vocab_size - released
    expected = sum(t.size for t in tensors.values()) + new_rows * WIDTH
    assert checkpoint.model.count_params() == parameter_count(checkpoint.config) == expected


def test_a_converted_gpt1_generates_and_its_preset_keeps_the_tokenizer(write_checkpoint, tmp_path):
    write_checkpoint(tmp_path / "hf", "openai-gpt")
    checkpoint = load_checkpoint(convert_checkpoint(tmp_path / "hf", tmp_path / "preset").out)
    assert checkpoint.tokenizer.encode("The cats sat, then!") == [
        checkpoint.tokenizer.token_to_id(t)
        for t in ["the</w>", "ca", "t", "s</w>", "sat</w>", ",</w>", "th", "e", "n</w>", "!</w>"]
    ]
    [text] = generate_texts(checkpoint, ["The cat"], max_new_tokens=4, sampler="greedy")
    assert text.startswith("the cat ") and len(text.split()) > 2


# --- The command line: convert, then fine-tune and classify ----------------------------


def test_convert_finetune_and_classify_on_the_command_line(write_checkpoint, tmp_path, capsys):
    write_checkpoint(tmp_path / "hf", "openai-gpt")
    main(["convert", "--from", str(tmp_path / "hf"), "--out", str(tmp_path / "gpt1")])
    summary = json.loads(capsys.readouterr().out)
    assert summary["model_type"] == "openai-gpt" and summary["out"] == str(tmp_path / "gpt1")

    main(["finetune", "--task", "cola", "--checkpoint", str(tmp_path / "gpt1"),
          "--max-steps", "2", "--batch-size", "8", "--out", str(tmp_path / "cola")])  # fmt: skip
    output = capsys.readouterr().out
    tuned = json.loads(output[output.index("{\n") :])
    assert tuned["steps"] == 2 and sum(map(sum, tuned["dev"]["confusion"])) == 527

    main(["classify", "--checkpoint", str(tmp_path / "cola"), "The cat sat.", "Cat the sat."])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in lines] == ["The cat sat.", "Cat the sat."]
    for line in lines:
        label, probability, _ = line.split("\t")
        assert label in ("acceptable", "unacceptable") and 0.5 <= float(probability) <= 1.0


# --- Every mistake: one message, exit status 2, nothing left behind -----------------------


def convert_fails(capsys, source: str, out: Path) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--from", source, "--out", str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1, error
    assert not out.exists(), "a failed conversion left its output folder behind"
    assert not list(out.parent.glob(f".{out.name}.*")), "a failed conversion left files"
    return error


def edit_tensors(folder: Path, change) -> None:
    from safetensors.numpy import load_file

    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))


def drop(name):
    return lambda tensors: tensors.pop(name)


def transpose(name):
    return lambda tensors: tensors.update({name: np.ascontiguousarray(tensors[name].T)})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (drop("h.1.mlp.c_fc.bias"), "has no tensor 'h.1.mlp.c_fc.bias'"),
        (drop("wpe.weight"), "has no tensor 'wpe.weight'"),
        (transpose("h.0.mlp.c_fc.weight"), "tensor 'h.0.mlp.c_fc.weight' has shape [32, 8]"),
    ],
)
def test_a_missing_or_misshapen_tensor_is_named(
    write_checkpoint, capsys, tmp_path, change, expected
):
    write_checkpoint(tmp_path / "hf", "gpt2")
    edit_tensors(tmp_path / "hf", change)
    assert expected in convert_fails(capsys, str(tmp_path / "hf"), tmp_path / "out")


def test_a_model_type_it_does_not_handle(write_checkpoint, capsys, tmp_path):
    write_checkpoint(tmp_path / "hf", "gpt2")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    error = convert_fails(capsys, str(tmp_path / "hf"), tmp_path / "out")
    assert "model_type is 'bert'" in error and "'openai-gpt'" in error


def test_pytorch_weights_without_safetensors_say_how_to_convert_them(
    write_checkpoint, capsys, tmp_path
):
    write_checkpoint(tmp_path / "hf", "openai-gpt")
    (tmp_path / "hf" / "model.safetensors").rename(tmp_path / "hf" / "pytorch_model.bin")
    error = convert_fails(capsys, str(tmp_path / "hf"), tmp_path / "out")
    assert "pytorch_model.bin but no model.safetensors" in error and "save_file(" in error


@pytest.mark.parametrize("name", ["vocab.json", "merges.txt"])
def test_a_missing_tokenizer_file_is_named(write_checkpoint, capsys, tmp_path, name):
    write_checkpoint(tmp_path / "hf", "openai-gpt")
    (tmp_path / "hf" / name).unlink()
    assert f"holds no {name}" in convert_fails(capsys, str(tmp_path / "hf"), tmp_path / "out")


def test_a_tokenizer_of_another_model_is_refused(
    write_checkpoint, write_tokenizer_files, capsys, tmp_path
):
    write_checkpoint(tmp_path / "hf", "openai-gpt")
    write_tokenizer_files(tmp_path / "hf", "gpt2")  # GPT-2's files beside GPT-1's weights
    error = convert_fails(capsys, str(tmp_path / "hf"), tmp_path / "out")
    assert "vocab.json holds 262 tokens but config.json's vocab_size is" in error


def test_an_existing_output_folder_is_left_alone(write_checkpoint, capsys, tmp_path):
    write_checkpoint(tmp_path / "hf", "gpt2")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", "--from", str(tmp_path / "hf"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_a_hub_handle_offline_is_refused(capsys, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # never reach the network here
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    error = convert_fails(capsys, "hf://openai-community/openai-gpt", tmp_path / "out")
    assert "cannot download hf://openai-community/openai-gpt" in error
    assert "hf download openai-community/openai-gpt" in error


def test_a_folder_that_is_not_a_checkpoint(capsys, tmp_path):
    assert "no such folder" in convert_fails(capsys, str(tmp_path / "nowhere"), tmp_path / "out")
    (tmp_path / "empty").mkdir()
    error = convert_fails(capsys, str(tmp_path / "empty"), tmp_path / "out")
    assert "holds no config.json" in error
