"""gpt_lesson: the companion package of the gpt-lesson book.

Each module holds one idea of GPT-1 and is taught by one chapter:

- ``data``: the sources table and ``fetch`` (download, mirror, sha256, cache);
- ``tokenizer``: GPT-2's byte-level BPE, exactly, eager and inside ``tf.data``;
- ``pipeline``: token ids cached on disk, the seed's framing and the standard one;
- ``config``: the profile (``GPT_LESSON_PROFILE``) that sizes every chapter.
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probes, CPU feature notes) would otherwise be
# stored in every notebook. A user who wants it back sets the variable before importing.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
