"""How the test command splits the work over two processes (the repository root's conftest,
so that it applies to the notebooks as well as to tests/).

``make test`` runs pytest-xdist with ``--dist loadgroup``: every file is one group, run
whole by one worker, so a notebook's cells run in order in one kernel. Chapters 3 and 5
share a group because chapter 5 fine-tunes the checkpoint that chapter 3 writes
(``runs/chapter3-<preset>``). The longest groups are queued first, so that neither worker
is left alone with one of them at the end (their times: ``python -m benchmarks --suite``).
"""

from pathlib import Path

import pytest

SHARED_GROUPS = {
    "03_pretraining.ipynb": "chapter 3's checkpoint",
    "05_finetuning_cola.ipynb": "chapter 3's checkpoint",
}
LONGEST_FIRST = (
    "notebooks/06_what_pretraining_buys.ipynb",
    "notebooks/04_stuck_accuracy.ipynb",
    "chapter 3's checkpoint",
    "tests/tasks/test_cola.py",
)


def _group(path: Path, root: Path) -> str:
    if path.name in SHARED_GROUPS:
        return SHARED_GROUPS[path.name]
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    groups = {item: _group(item.path, config.rootpath) for item in items}
    for item, group in groups.items():
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: rank.get(groups[item], len(rank)))  # stable: order in a file kept
