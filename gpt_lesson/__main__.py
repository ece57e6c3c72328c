"""Command line: ``python -m gpt_lesson pretrain|generate ...``.

python -m gpt_lesson pretrain --preset lesson --out runs/lesson
python -m gpt_lesson generate --checkpoint runs/lesson --prompt "ROMEO:" --sampler top_p
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from gpt_lesson.config import PRESETS, TRAINING, get_preset


def pretrain(args: argparse.Namespace) -> None:
    from gpt_lesson.tokenizer import load_gpt2_tokenizer
    from gpt_lesson.train import load_shakespeare
    from gpt_lesson.train import pretrain as run

    config = get_preset(args.preset)
    train = TRAINING[args.preset]
    changes = {"epochs": args.epochs, "max_minutes": args.minutes, "seed": args.seed}
    train = dataclasses.replace(train, **{k: v for k, v in changes.items() if v is not None})
    tokenizer = load_gpt2_tokenizer()
    summary = run(
        config, train, load_shakespeare(tokenizer), tokenizer, args.out or f"runs/{args.preset}"
    )
    print(json.dumps(summary, indent=2))


def generate(args: argparse.Namespace) -> None:
    import keras_hub

    from gpt_lesson.generate import generate_from_checkpoint
    from gpt_lesson.tokenizer import load_gpt2_tokenizer
    from gpt_lesson.train import load_checkpoint

    samplers = {
        "greedy": lambda: keras_hub.samplers.GreedySampler(),
        "top_k": lambda: keras_hub.samplers.TopKSampler(k=args.k, temperature=args.temperature),
        "top_p": lambda: keras_hub.samplers.TopPSampler(p=args.p, temperature=args.temperature),
    }
    text = generate_from_checkpoint(
        load_checkpoint(args.checkpoint),
        load_gpt2_tokenizer(),
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        sampler=samplers[args.sampler](),
        seed=args.seed,
    )
    print(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gpt_lesson", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("pretrain", help="pre-train on tiny Shakespeare (objective L1)")
    train.add_argument("--preset", choices=sorted(PRESETS), default="lesson")
    train.add_argument("--out", help="run folder (default: runs/PRESET); an existing run resumes")
    train.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    train.add_argument("--minutes", type=float, help="stop after the epoch that passes this")
    train.add_argument("--seed", type=int)
    train.set_defaults(run=pretrain)

    sample = commands.add_parser("generate", help="continue a prompt with a trained model")
    sample.add_argument("--checkpoint", required=True, help="a run folder written by pretrain")
    sample.add_argument("--prompt", default="ROMEO:")
    sample.add_argument("--max-new-tokens", type=int, default=100)
    sample.add_argument("--sampler", choices=["greedy", "top_k", "top_p"], default="top_p")
    sample.add_argument("--k", type=int, default=40, help="top_k: sample among the k likeliest")
    sample.add_argument("--p", type=float, default=0.9, help="top_p: smallest set with mass p")
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=generate)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
