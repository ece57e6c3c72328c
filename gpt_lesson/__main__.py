"""Command line: ``python -m gpt_lesson pretrain|generate|finetune|classify|convert|doctor``.

A mistake of the user's (a missing or damaged run folder, a prompt too long for the
model, a bad value) ends the command with one line on standard error and exit status 2;
``GPT_LESSON_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from gpt_lesson import runtime
from gpt_lesson.config import PRESETS, TRAINING, get_preset

EXAMPLES = """examples:
  python -m gpt_lesson pretrain --preset lesson --out runs/lesson
  python -m gpt_lesson generate --checkpoint runs/lesson --prompt "ROMEO:" --prompt "JULIET:"
  python -m gpt_lesson finetune --task cola --checkpoint runs/chapter3-lesson --out runs/cola
  python -m gpt_lesson classify --checkpoint runs/cola "The book was read by Mary."
  python -m gpt_lesson convert --from hf://openai-community/openai-gpt --out runs/openai-gpt
  python -m gpt_lesson doctor
"""


def pretrain(args: argparse.Namespace) -> None:
    from gpt_lesson.pretraining.distribute import make_strategy
    from gpt_lesson.pretraining.train import load_shakespeare
    from gpt_lesson.pretraining.train import pretrain as run
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    check_positive(args, "epochs", "minutes")
    check_seed(args.seed)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file; give a folder for the run.")
    strategy = make_strategy(args.strategy)  # first: multiworker sets TensorFlow up at start
    config = get_preset(args.preset)
    train = TRAINING[args.preset]
    changes = {"epochs": args.epochs, "max_minutes": args.minutes, "seed": args.seed}
    train = dataclasses.replace(train, **{k: v for k, v in changes.items() if v is not None})
    tokenizer = load_gpt2_tokenizer()
    data = load_shakespeare(tokenizer)
    summary = run(
        config, train, data, tokenizer, args.out or f"runs/{args.preset}", strategy=strategy
    )
    print(json.dumps(summary, indent=2))


def generate(args: argparse.Namespace) -> None:
    import keras_hub

    from gpt_lesson.gpt1.presets import load_checkpoint
    from gpt_lesson.pretraining.generate import generate_texts, room_for_new_tokens
    from gpt_lesson.pretraining.sampler_settings import check_sampler_settings

    check_sampler_settings(args.k, args.p, args.temperature)  # before any model is loaded
    if args.max_new_tokens is not None and args.max_new_tokens < 0:
        raise ValueError(f"--max-new-tokens must be 0 or more, got {args.max_new_tokens}.")
    check_seed(args.seed)
    check_text("--prompt", args.prompt or [])
    samplers = {
        "greedy": lambda: keras_hub.samplers.GreedySampler(),
        "top_k": lambda: keras_hub.samplers.TopKSampler(k=args.k, temperature=args.temperature),
        "top_p": lambda: keras_hub.samplers.TopPSampler(p=args.p, temperature=args.temperature),
    }
    checkpoint, prompts = load_checkpoint(args.checkpoint), args.prompt or ["ROMEO:"]
    new_tokens = args.max_new_tokens
    if new_tokens is None:
        new_tokens = room_for_new_tokens(checkpoint, prompts)
    texts = generate_texts(
        checkpoint,
        prompts,
        max_new_tokens=new_tokens,
        sampler=samplers[args.sampler](),
        seed=args.seed,
    )
    print("\n\n".join(texts))


def classify(args: argparse.Namespace) -> None:
    from gpt_lesson.gpt1.classifier import load_classifier

    sentences = list(args.sentences)
    check_text("sentence", sentences)
    if args.file:
        lines = read_sentences(Path(args.file)).splitlines()
        sentences += [line for line in lines if line.strip()]
    if not sentences:
        raise ValueError("Give sentences to classify, or --file with one sentence a line.")
    classifier = load_classifier(args.checkpoint)
    room = classifier.preprocessor.sequence_length - 2  # the start and extract tokens
    for number, sentence in enumerate(sentences, 1):
        length = len(classifier.preprocessor.tokenizer.encode(sentence))
        if length > room:
            raise ValueError(
                f"sentence {number} has {length} tokens; the classifier reads at most {room} "
                "(its context less the start and extract tokens). Shorten or split it."
            )
    probabilities = classifier.probabilities(sentences)
    for sentence, row in zip(sentences, probabilities, strict=True):
        best = int(row.argmax())
        print(f"{classifier.labels[best]}\t{row[best]:.3f}\t{one_line(sentence)}")


def finetune(args: argparse.Namespace) -> None:
    from gpt_lesson.gpt1.presets import load_checkpoint
    from gpt_lesson.tasks.cola import (
        EVALUATION_SPLITS,
        prepare_cola,
        pretrain_if_missing,
        run_once,
        text_tokenizer,
    )
    from gpt_lesson.tasks.fine_tuning import FinetuneConfig
    from gpt_lesson.tokenizer.gpt2 import load_gpt2_tokenizer

    check_positive(args, "learning_rate", "batch_size", "epochs", "max_steps")
    check_seed(args.seed)
    if args.lm_weight is not None and not args.lm_weight >= 0:
        raise ValueError(f"--lm-weight (λ) must be 0 or more, got {args.lm_weight}.")
    if args.pretrain_first:  # without it, a mistyped folder is an error, not minutes of training
        pretrain_if_missing(args.checkpoint, load_gpt2_tokenizer())
    checkpoint = load_checkpoint(args.checkpoint)
    data = prepare_cola(checkpoint, text_tokenizer(checkpoint))
    changes = {
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "lm_weight": args.lm_weight,
        "seed": args.seed,
        "max_steps": args.max_steps,
    }
    config = FinetuneConfig(
        pretrained=not args.no_pretraining, **{k: v for k, v in changes.items() if v is not None}
    )
    record = run_once(data, config, save_to=args.out)
    for name in EVALUATION_SPLITS:
        print(f"{name:18} MCC {record[name]['mcc']:.3f}  accuracy {record[name]['accuracy']:.3f}")
    summary = {k: record[k] for k in ("config", "steps", "minutes")}
    summary.update(
        {k: {m: record[k][m] for m in ("mcc", "accuracy", "confusion")} for k in EVALUATION_SPLITS}
    )
    print(json.dumps(summary, indent=2))


def convert(args: argparse.Namespace) -> None:
    from gpt_lesson.config import parameter_count
    from gpt_lesson.gpt1.convert import convert_checkpoint

    done = convert_checkpoint(args.source, args.out)
    summary = {"out": str(done.out), "model_type": done.model_type}
    summary.update(parameters=parameter_count(done.config), config=dataclasses.asdict(done.config))
    print(json.dumps(summary, indent=2))


def doctor(args: argparse.Namespace) -> None:
    from gpt_lesson.doctor import examine, report

    text, healthy = report(examine())
    print(text)
    if not healthy:
        raise SystemExit(1)


LINE_BREAKS = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines' and tab


def one_line(text: str) -> str:
    """``text`` with its line breaks and tabs escaped (``\\n``), so that each output line
    holds one sentence and its fields stay apart."""
    return text.translate({ord(c): repr(c)[1:-1] for c in LINE_BREAKS})


SEEDS = 2**32  # NumPy's and Keras' random seeds are 32-bit


def check_seed(seed: int | None) -> None:
    """Refuse a seed the random generators cannot take."""
    if seed is not None and not 0 <= seed < SEEDS:
        raise ValueError(f"--seed must be a whole number from 0 to {SEEDS - 1}, got {seed}.")


def check_text(what: str, texts: list[str]) -> None:
    """Refuse text that is not UTF-8 (bytes the shell passed that decode to nothing)."""
    for number, text in enumerate(texts, 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"{what} {number} is not UTF-8 text (character {error.start} is an "
                "undecodable byte); pass UTF-8 text."
            ) from None


def read_sentences(path: Path) -> str:
    """The text of ``--file``, or a message that says what is wrong with it."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ValueError(
            f"--file {path} is a folder; give a text file, one sentence a line."
        ) from None
    except FileNotFoundError:
        raise ValueError(f"--file {path}: no such file.") from None
    except PermissionError:
        raise ValueError(f"--file {path} cannot be read (permission denied).") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"--file {path} is not UTF-8 text (byte {error.start}: {error.reason}); "
            "save it as UTF-8."
        ) from None


def check_positive(args: argparse.Namespace, *names: str) -> None:
    """Refuse a flag given a value of 0 or less (or NaN), naming it."""
    for name in names:
        value = getattr(args, name)
        if value is not None and not value > 0:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be more than 0, got {value}.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gpt_lesson",
        description="Pre-train, sample from and fine-tune the book's GPT.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the examples' lines
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("pretrain", help="pre-train on tiny Shakespeare (objective L1)")
    train.add_argument("--preset", choices=sorted(PRESETS), default="lesson")
    train.add_argument("--out", help="run folder (default: runs/PRESET); an existing run resumes")
    train.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    train.add_argument(
        "--minutes",
        type=float,
        help="stop at the first step past this many minutes (its epoch still validates and saves)",
    )
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        default="default",
        help="tf.distribute: one device, all local GPUs, or the machines in TF_CONFIG",
    )
    train.set_defaults(run=pretrain)

    sample = commands.add_parser("generate", help="continue a prompt with a trained model")
    sample.add_argument(
        "--checkpoint", required=True, help="a run folder written by pretrain (or convert)"
    )
    sample.add_argument(
        "--prompt", action="append", help="a prompt (repeat for a batch; default ROMEO:)"
    )
    sample.add_argument(
        "--max-new-tokens",
        type=int,
        help="new tokens after the prompt (default: 100, or what fits in the model's context)",
    )
    sample.add_argument("--sampler", choices=["greedy", "top_k", "top_p"], default="top_p")
    sample.add_argument("--k", type=int, default=40, help="top_k: sample among the k likeliest")
    sample.add_argument("--p", type=float, default=0.9, help="top_p: smallest set with mass p")
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=generate)

    tune = commands.add_parser("finetune", help="fine-tune on a task with L3 = L2 + λ·L1")
    tune.add_argument("--task", choices=["cola"], default="cola")
    tune.add_argument(
        "--checkpoint",
        default="runs/chapter3-lesson",
        help="a run folder written by pretrain (or convert)",
    )
    tune.add_argument(
        "--pretrain-first",
        action="store_true",
        help="when --checkpoint holds no model, pre-train the profile's preset there first",
    )
    tune.add_argument("--lm-weight", type=float, help="λ, the weight of L1 (paper: 0.5)")
    tune.add_argument("--learning-rate", type=float)
    tune.add_argument("--batch-size", type=int)
    tune.add_argument("--epochs", type=int)
    tune.add_argument("--seed", type=int)
    tune.add_argument("--max-steps", type=int, help="stop after this many steps (quick checks)")
    tune.add_argument("--no-pretraining", action="store_true", help="start from random weights")
    tune.add_argument("--out", default="runs/cola", help="folder for the classifier's preset")
    tune.set_defaults(run=finetune)

    label = commands.add_parser("classify", help="label sentences with a fine-tuned classifier")
    label.add_argument("sentences", nargs="*", help="sentences to classify")
    label.add_argument("--checkpoint", default="runs/cola", help="a folder written by finetune")
    label.add_argument("--file", help="a text file of sentences, one a line")
    label.set_defaults(run=classify)

    port = commands.add_parser(
        "convert", help="the released GPT-1 or GPT-2 from a Hugging Face checkpoint, as a preset"
    )
    port.add_argument(
        "--from",
        dest="source",
        required=True,
        help="a checkpoint folder (config.json, model.safetensors, vocab.json, merges.txt) or "
        "hf://owner/name, downloaded (e.g. hf://openai-community/openai-gpt)",
    )
    port.add_argument("--out", required=True, help="a new folder for the preset")
    port.set_defaults(run=convert)

    check = commands.add_parser("doctor", help="check this machine: [OK] or [FAIL] per requirement")
    check.set_defaults(run=doctor)

    args = parser.parse_args(argv)
    runtime.import_tensorflow_quietly()
    try:
        args.run(args)
    except (ValueError, OSError) as error:  # the package's messages say what to do
        if os.environ.get("GPT_LESSON_DEBUG"):
            raise
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
