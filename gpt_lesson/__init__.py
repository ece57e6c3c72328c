"""gpt_lesson: the companion package of the gpt-lesson book.

Each module holds one idea of GPT-1 and is taught by one chapter:

- ``data``: the sources table and ``fetch`` (download, mirror, sha256, cache) (chapter 1);
- ``tokenizer``: GPT-2's byte-level BPE, exactly, eager and inside ``tf.data`` (1);
- ``pipeline``: token ids cached on disk, the seed's framing and the standard one (1, 3);
- ``config``: ``GPTConfig``, presets, training recipes and profiles (2, 3);
- ``model``: ``build_gpt`` from KerasHub layers and its parameter count (2);
- ``objectives``: the masked LM loss, accuracy, perplexity, bits per character (3);
- ``vocabulary``: a vocabulary trimmed to the ids a corpus uses (3);
- ``train``: AdamW, warmup + cosine, checkpoints (3);
- ``resume``: the run state that lets a killed run continue exactly (3);
- ``distribute``: ``tf.distribute`` strategies, from one CPU to many machines (appendix);
- ``generate``: the key/value cache and KerasHub's samplers (3);
- ``blog``: the seed's code path, faithfully, and its one-factor recipes (4);
- ``diagnostics``: checks for a model whose metric does not move (4);
- ``finetune`` and ``cola``: L3 = L2 + λ·L1 on CoLA, and the ablation (5);
- ``plots``, ``diagrams``, ``tables``, ``source``: the book's figures, tables and shown code;
- ``files``: writing a file whole or not at all (every file the package writes);
- ``runtime``: TensorFlow's settings, chosen before it starts (oneDNN on).
"""

from gpt_lesson import runtime

# Before any module imports TensorFlow: oneDNN on, start-up chatter off (see runtime).
runtime.apply_defaults()

__version__ = "0.1.0"
