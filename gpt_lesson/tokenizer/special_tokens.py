"""The ids this book gives the tokens GPT-2's vocabulary lacks, in one place.

GPT-2's vocabulary ends at id 50256 (``<|endoftext|>``). Chapter 1 appends a pad, a start
and an end token; fine-tuning (``gpt_lesson.tasks.transformations``) adds a delimiter and an
unknown token. Kept apart from ``gpt_lesson.tokenizer.gpt2``, which needs TensorFlow, so that
the model and its classifier head can name them on any Keras backend.
"""

SPECIAL_TOKENS = {"<|pad|>": 50257, "<|start|>": 50258, "<|end|>": 50259}
# Ids past GPT-2's vocabulary that fine-tuning adds (``gpt_lesson.tasks.transformations``).
EXTRA_TOKENS = {"<|delimiter|>": 50260, "<|unknown|>": 50261}
