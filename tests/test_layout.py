"""The package's layout as the book and its readers rely on it: every folder is on the map in
``gpt_lesson/__init__.py`` and has its tests beside it, every public name resolves, and the
configs (with the parameter count) are read without Keras or TensorFlow."""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gpt_lesson

PACKAGE = Path(gpt_lesson.__file__).parent
TESTS = Path(__file__).parent
FOLDERS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
PACKAGES = ["gpt_lesson", *(f"gpt_lesson.{folder}" for folder in FOLDERS)]


def test_every_folder_is_on_the_map_and_has_its_tests():
    assert FOLDERS == ["figures", "gpt1", "pretraining", "seed", "tasks", "tokenizer"]
    for folder in FOLDERS:
        assert f"``{folder}/``" in gpt_lesson.__doc__
        assert list((TESTS / folder).glob("test_*.py")), f"tests/{folder}/ holds no tests"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = module.missing


def test_the_configs_and_the_parameter_count_need_neither_keras_nor_tensorflow():
    code = (
        "import sys; from gpt_lesson.config import PRESETS, parameter_count; "
        "print(parameter_count(PRESETS['gpt1'])); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')))"
    )
    lines = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert int(lines[0]) > 100_000_000
    assert lines[1] == "[]"


REPO = TESTS.parent
DOTTED = re.compile(r"gpt_lesson(?:\.\w+)+")


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module of the package or a name in one."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        try:
            for attribute in parts[end:]:
                found = getattr(found, attribute)
        except AttributeError:
            return False
        return True
    return False


def prose_and_code() -> dict[str, str]:
    """The text of the README, the book's pages, the notebooks' cells and the Python files."""
    paths = [
        REPO / "README.md",
        *(REPO / "book").glob("*.md"),
        *(REPO / "notebooks").glob("*.ipynb"),
    ]
    for folder in ("gpt_lesson", "experiments", "benchmarks", "tests"):
        paths += (REPO / folder).rglob("*.py")
    texts = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        texts[path.relative_to(REPO).as_posix()] = text
    return texts


def test_every_dotted_name_in_the_prose_and_code_exists():
    """A module or name moved or renamed without its mentions fails here."""
    dangling = sorted(
        f"{where}: {name}"
        for where, text in prose_and_code().items()
        for name in set(DOTTED.findall(text))
        if not resolves(name.rstrip("."))
    )
    assert dangling == []


PRIVATE_NAMES = re.compile(
    r"\._(self_attention|cross_attention|feedforward)\w*|\._(query|key|value|output)_dense"
    r"|\._(tokenize_tf|set_vocabulary_and_merges\w*|add_special_token|bpe_merge\w*)"
    r"|\._(maybe_initialized_tf|tokenizer\b|build_cache)|\.token_to_id_map|self\.cache\."
    # Keras' and TensorFlow's: private modules, a Mean metric's sums, per-process names
    r"|_pywrap|tensorflow\.python|keras\.src|\.(total|count)\.(numpy|value|assign)"
    r"|seed_generator_|\._(momentums|velocities|get_variable_index)\b"
)


def test_only_the_adapter_reads_private_keras_keras_hub_or_tensorflow_names():
    repository = REPO
    readers = [
        path.relative_to(repository).as_posix()
        for folder in ("gpt_lesson", "tests", "notebooks", "benchmarks", "experiments", "book")
        for path in sorted((repository / folder).rglob("*"))
        if path.suffix in (".py", ".ipynb")
        and path.name != Path(__file__).name
        and PRIVATE_NAMES.search(path.read_text(encoding="utf-8"))
    ]
    assert readers == ["gpt_lesson/_keras_hub.py"]
