"""Every public name's docstring has the sections the API reference shows (issue 17).

For each public function and class (documented where it is defined; see
``tests/test_docs_api.py`` for the list of public names):

- a summary line;
- the definition in ``.. math::`` (or inline ``:math:``) and the source of the formula
  (``Source:``, ``Sources:`` or ``References:``, usually the last line), unless
  ``NO_FORMULA`` says why no formula defines it;
- ``Args:`` when it takes arguments (for a class, its ``__init__``'s);
- ``Shape:`` when it takes or returns tensors (every ``nn.Module`` class);
- ``Returns:`` for a function that returns something;
- ``Raises:`` when it raises (its body, or a class's ``__init__``, raises or calls a
  ``check_*``/``fail`` helper of ``torchmath/_validation.py``);
- an ``Example:`` with a doctest (the doctests run in the suite: ``--doctest-modules``).

Result records (named tuples, dataclasses, enums), exceptions and warnings need only the
summary. Sphinx renders the sections with napoleon (``Shape`` as a custom section); CI's
``sphinx-build -W`` fails if one does not render.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re

import pytest
import torch

from tests.test_docs_api import home_module, public_modules, public_names

#: Public names that no formula defines: plumbing, switches and containers. They still need
#: every other section.
NO_FORMULA = {
    "torchmath.get_cpu_blas": "a switch",
    "torchmath.set_cpu_blas": "a switch",
    "torchmath.get_validate_args": "a switch",
    "torchmath.set_validate_args": "a switch",
    "torchmath.distributed.agree_layout": "communication plumbing",
    "torchmath.distributed.all_gather_rows": "communication plumbing",
    "torchmath.distributed.all_reduce": "communication plumbing",
    "torchmath.distributed.all_reduce_sum": "communication plumbing",
    "torchmath.distributed.should_sync": "communication plumbing",
    "torchmath.distributed.world_size": "communication plumbing",
    "torchmath.lightning.EstimatorModule": "runs an estimator's fit inside a Trainer",
    "torchmath.information.mlp": "a network builder",
    "torchmath.learning_theory.mc_dropout_mode": "a context manager that switches layers",
    "torchmath.learning_theory.enable_mc_dropout": "switches layers' modes",
    "torchmath.learning_theory.TorchModel": "a recipe for building and training a model",
    "torchmath.callbacks.Augmentation": "applies a given function to batches",
    "torchmath.learning_theory.all_labellings": "an enumeration of binary vectors",
    "torchmath.testing.check_estimator": "a contract checker",
    "torchmath.testing.check_estimator_distributed": "a contract checker",
}

#: Public names whose example cannot run as a doctest, and where it runs instead.
NO_EXAMPLE = {
    "torchmath.testing.check_estimator_distributed":
        "needs an initialized 2-process group; tests/test_estimator.py runs it over gloo",
}

SECTION = {name: re.compile(rf"^\s*{name}:\s*$", re.M) for name in
           ("Args", "Shape", "Returns", "Raises", "Example", "Examples")}


def canonical_objects() -> list[tuple[str, object]]:
    seen, out = set(), []
    for module in public_modules():
        mod = importlib.import_module(module)
        for name in public_names(module):
            if home_module(module, name) != module:
                continue  # a re-export, checked where it is defined
            obj = getattr(mod, name)
            if id(obj) not in seen and (inspect.isfunction(obj) or inspect.isclass(obj)):
                seen.add(id(obj))
                out.append((f"{module}.{name}", obj))
    return out


def _kind(obj) -> str:
    if inspect.isfunction(obj):
        return "function"
    if issubclass(obj, BaseException):
        return "exception"
    if (issubclass(obj, tuple) and hasattr(obj, "_fields")) or dataclasses.is_dataclass(obj) \
            or issubclass(obj, enum.Enum):
        return "record"
    return "class"


def _signature(obj):
    try:
        return inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    except (TypeError, ValueError):
        return None


def required_sections(qualname: str, obj) -> list[str]:
    kind = _kind(obj)
    if kind in ("exception", "record"):
        return []
    need = [] if qualname in NO_EXAMPLE else ["Example"]
    sig = _signature(obj)
    params = [p for p in (sig.parameters.values() if sig else []) if p.name != "self"]
    if params:
        need.append("Args")
    tensors = any("Tensor" in str(p.annotation) for p in params) or (
        sig is not None and "Tensor" in str(sig.return_annotation))
    if kind == "class":
        tensors = issubclass(obj, torch.nn.Module) or (
            tensors and not issubclass(obj, torch.optim.Optimizer))
    if tensors:
        need.append("Shape")
    if kind == "function" and sig is not None and \
            str(sig.return_annotation) not in ("None", "'None'"):
        need.append("Returns")
    try:
        source = inspect.getsource(obj.__init__ if kind == "class" else obj)
    except (OSError, TypeError):
        source = ""
    if re.search(r"\braise\b|\bcheck_\w+\(|\bfail\(", source):
        need.append("Raises")
    if qualname not in NO_FORMULA:
        need += ["math", "Source"]
    return need


def missing_sections(qualname: str, obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    missing = []
    if not doc.strip() or not doc.splitlines()[0].strip():
        missing.append("summary line")
    for section in required_sections(qualname, obj):
        if section == "math":
            ok = ".. math::" in doc or ":math:" in doc
        elif section == "Source":
            ok = bool(re.search(r"\b(Sources?|References?):", doc))
        elif section == "Example":
            ok = bool(SECTION["Example"].search(doc) or SECTION["Examples"].search(doc)) \
                and ">>>" in doc
        else:
            ok = bool(SECTION[section].search(doc))
        if not ok:
            missing.append(section)
    return missing


OBJECTS = canonical_objects()


def test_there_are_public_names_to_check():
    assert len(OBJECTS) > 150
    names = {q for q, _ in OBJECTS}
    assert set(NO_FORMULA) | set(NO_EXAMPLE) <= names  # no stale exemptions


@pytest.mark.parametrize("qualname,obj", OBJECTS, ids=[q for q, _ in OBJECTS])
def test_docstring_has_its_sections(qualname, obj):
    missing = missing_sections(qualname, obj)
    assert not missing, f"{qualname}: docstring lacks {', '.join(missing)}"


def test_the_checker_sees_a_missing_section():
    def f(x: torch.Tensor) -> torch.Tensor:
        """Double it.

        Args:
            x: input.

        Example:
            >>> f(torch.ones(1))
        """
        if x.ndim == 0:
            raise ValueError("f: expected a vector")
        return 2 * x

    assert set(missing_sections("f", f)) == {"Shape", "Returns", "Raises", "math", "Source"}
