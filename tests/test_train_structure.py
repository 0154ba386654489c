"""The shape of studio/train, checked without training: no import cycles (function-level imports
included) among its modules and studio/jobs.py, every function about a screen, every objective a
recipe, and TrainState read from checkpoints old and new."""
import ast

from studio.config import OBJECTIVES
from studio.paths import PROJECT_ROOT
from studio.train.state import TrainState

TRAIN = PROJECT_ROOT / "studio" / "train"
OTHERS_OWN = {"export.py", "sweep.py"}


def import_graph() -> dict[str, set[str]]:
    files = {f"studio.train.{p.stem}": p for p in TRAIN.glob("*.py")} | {"studio.jobs": PROJECT_ROOT / "studio" / "jobs.py"}
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def test_no_import_cycles_in_training_or_with_jobs():
    graph = import_graph()

    def reaches(start, target, seen=()):
        return any(m == target or (m not in seen and reaches(m, target, (*seen, m))) for m in graph[start])

    assert [m for m in graph if reaches(m, m)] == []


def test_every_function_fits_on_a_screen():
    long = []
    for path in TRAIN.glob("*.py"):
        if path.name in OTHERS_OWN:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name}")
    assert long == []


def test_every_objective_has_a_recipe():
    from studio.train.recipes import RECIPES

    assert set(RECIPES) == set(OBJECTIVES)
    assert all(callable(getattr(recipe, name, None)) for recipe in RECIPES.values() for name in ("setup", "save", "evaluate"))


def test_train_state_reads_the_progress_dict_of_older_checkpoints():
    old = {"step": 4, "seen": 900, "queue": [3, 1], "best_loss": 2.5, "best_step": 2, "bad_evals": 1,
           "train_seconds": 12.0, "micro_batch": 2}
    assert TrainState.from_checkpoint({"progress": old}) == TrainState(**old)
    assert TrainState.from_checkpoint({"train_state": TrainState(**old).to_dict()}).to_dict() == old
    assert TrainState.from_checkpoint({"progress": {"step": 1, "seen": 5}}) == TrainState(step=1, seen=5)
