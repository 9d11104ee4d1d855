"""Checks of the Python expressions a ``torch.export`` archive asks PyTorch to evaluate.

A ``torch.export`` archive stores two kinds of text that PyTorch turns into running code
when it loads the archive:

- symbolic shapes (``"expr_str"``), parsed with :func:`sympy.sympify`, which calls
  :func:`eval` on the text;
- input guards (``"guards_code"``), pasted into the source of a function that
  :meth:`torch.export.ExportedProgram.module` compiles with :func:`exec`.

Both are checked here against the small subset of Python that ``torch.export.save``
writes: arithmetic, comparisons, constants, calls of SymPy classes (shapes) or of the
guard helpers (guards), and, in guards, ``L['name'].size()[i]``-style lookups. Anything
else (attribute access to arbitrary objects, dunder names, builtins such as
``__import__`` or ``open``, quotes that could end the string the guard is pasted into)
is reported.
"""

from __future__ import annotations

import ast
import re
from functools import cache

__all__ = ["guard_problem", "shape_problem"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.\- ]*\Z")  # string constants: no quotes, no escapes
_FORBIDDEN_CHARACTERS = frozenset("#\\\n\r;")  # comments, escapes and line breaks end a pasted line

_OPERATORS = (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift,
    ast.UAdd, ast.USub, ast.Not, ast.Invert, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)
_EXPRESSIONS = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Load, ast.keyword)

#: Names a guard may use: the placeholder dict ``L``, ``math``, ``inf`` and the helpers
#: of PyTorch's guard namespace that compute, never import or open.
_GUARD_NAMES = frozenset({
    "L", "math", "inf", "True", "False", "None",
    "IsNonOverlappingAndDenseIndicator", "cast_symbool_to_symint_guardless",
})
#: Attributes a guard may read: tensor sizes and strides, and pure functions of ``math``.
_GUARD_ATTRIBUTES = frozenset({
    "size", "stride", "storage_offset", "dim", "numel", "shape",
    "isnan", "isinf", "isfinite", "inf", "nan", "pi", "e", "floor", "ceil", "trunc",
    "sqrt", "exp", "log", "log2", "cos", "sin", "tan", "fabs", "pow",
})


@cache
def _sympy_classes() -> frozenset[str]:
    """Names of the SymPy (and PyTorch SymPy) classes a shape expression may call."""
    import inspect

    import sympy
    from torch.utils._sympy import functions

    names = set()
    for module in (sympy, functions):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, sympy.Basic) and "__" not in name:
                names.add(name)
    return frozenset(names)


def _parse(text: object) -> ast.Expression | str:
    if not isinstance(text, str):
        return f"is not a string ({type(text).__name__})"
    if _FORBIDDEN_CHARACTERS & set(text):
        return "contains a comment, a backslash, a semicolon or a line break"
    if "__" in text:
        return "contains a double underscore (a Python special name)"
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError:
        return "is not one Python expression"


def _constant_problem(node: ast.Constant) -> str | None:
    if isinstance(node.value, str) and not _PLAIN_TEXT.match(node.value):
        return f"holds the string {node.value!r} with characters other than letters, digits, '_', '.', '-'"
    if node.value is not None and not isinstance(node.value, bool | int | float | str):
        return f"holds a constant of type {type(node.value).__name__}"
    return None


def shape_problem(text: object) -> str | None:
    """What makes a symbolic-shape expression unsafe for :func:`sympy.sympify`, if anything.

    Parameters
    ----------
    text : object
        The ``expr_str`` of a serialized symbolic size, such as
        ``"Symbol('s0', positive=True, integer=True)"``.

    Returns
    -------
    str or None
        ``None`` for an expression of SymPy class calls, names, constants and operators;
        otherwise why it was refused.
    """
    tree = _parse(text)
    if isinstance(tree, str):
        return tree
    classes = _sympy_classes()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in classes:
                return f"calls {ast.unparse(node.func)!r}, which is not a SymPy class"
        elif isinstance(node, ast.Constant):
            if (problem := _constant_problem(node)) is not None:
                return problem
            if isinstance(node.value, str) and not (_IDENTIFIER.match(node.value) or _NUMBER.match(node.value)):
                return f"holds the string {node.value!r}, which is neither a symbol name nor a number"
        elif not isinstance(node, (ast.Name, *_EXPRESSIONS, *_OPERATORS)):
            return f"uses Python syntax {type(node).__name__!r}, which symbolic shapes never need"
    return None


def guard_problem(text: object) -> str | None:
    """What makes an input guard unsafe to compile, if anything.

    Parameters
    ----------
    text : object
        One entry of ``guards_code``, such as ``"L['x'].size()[0] <= 64"``.

    Returns
    -------
    str or None
        ``None`` for a comparison of input sizes, constants and the guard helpers;
        otherwise why it was refused.
    """
    tree = _parse(text)
    if isinstance(tree, str):
        return tree
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in _GUARD_NAMES:
                return f"uses the name {node.id!r}, which input guards never need"
        elif isinstance(node, ast.Attribute):
            if node.attr not in _GUARD_ATTRIBUTES:
                return f"reads the attribute {node.attr!r}, which input guards never need"
        elif isinstance(node, ast.Constant):
            if (problem := _constant_problem(node)) is not None:
                return problem
        elif not isinstance(node, (ast.Call, ast.Subscript, *_EXPRESSIONS, *_OPERATORS)):
            return f"uses Python syntax {type(node).__name__!r}, which input guards never need"
    return None
