"""Fine-tuning and what pre-training buys (chapters 5, 6): a task's input as GPT-1 reads it
(``transformations``), batches by length (``batches``), L3 = L2 + λ·L1 (``fine_tuning``), the
language model alone (``zero_shot``), CoLA (``cola``), tasks cut from the play
(``play_tasks``) and transfer from pre-training to them (``transfer``), and the statistics
that say how sure a difference is (``intervals``)."""

from gpt_lesson._lazy import lazy_exports

_PUBLIC = {
    "SPECIAL": "transformations",
    "SpecialIds": "transformations",
    "Task": "transformations",
    "TASKS": "transformations",
    "FinetuneConfig": "fine_tuning",
    "finetune": "fine_tuning",
    "evaluate": "fine_tuning",
    "prepare_cola": "cola",
    "run_once": "cola",
    "welch_difference": "intervals",
    "classification_dataset": "batches",
    "encode": "batches",
    "bootstrap_difference": "intervals",
    "detectable_difference": "intervals",
    "classification_input": "transformations",
    "entailment_input": "transformations",
    "multiple_choice_inputs": "transformations",
    "similarity_inputs": "transformations",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
