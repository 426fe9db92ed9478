"""Contrasts of the fixed effects: "B - A" strings, index lists, vectors and matrices → L.

A contrast string is a linear expression in coefficient names: numbers, ``+ - * /`` and
parentheses, e.g. ``"trt[T.B] - trt[T.A]"``, ``"(B + C)/2 - A"``, ``"2*x1"``. Besides the
exact coefficient names, a factor level may be named alone (``B`` for ``trt[T.B]`` or
``trt[B]``; ``trtB`` R-style) when that is unambiguous. Strings are parsed with
:mod:`ast` (never evaluated).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._lmm_reduce import FloatArray

_LEVEL = re.compile(r"^(?P<factor>.+?)\[(?:T\.)?(?P<level>.+)\]$")


def _aliases(coef_names: Sequence[str]) -> dict[str, int]:
    """Name → coefficient index: exact names, plus unambiguous level and R-style aliases."""
    exact = {name: j for j, name in enumerate(coef_names)}
    extra: dict[str, list[int]] = {}
    for j, name in enumerate(coef_names):
        candidates = []
        match = _LEVEL.match(name)
        if match:
            candidates += [match["level"], match["factor"] + match["level"]]
        if name == "Intercept":
            candidates.append("(Intercept)")
        for alias in candidates:
            if alias not in exact:
                extra.setdefault(alias, []).append(j)
    out = dict(exact)
    out.update({alias: js[0] for alias, js in extra.items() if len(js) == 1})
    return out


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_."


def parse_contrast(text: str, coef_names: Sequence[str]) -> FloatArray:
    """One contrast string → its coefficient vector (length p)."""
    names = _aliases(coef_names)
    ordered = sorted(names, key=len, reverse=True)
    pieces: list[str] = []
    i = 0
    while i < len(text):
        for name in ordered:
            end = i + len(name)
            if text.startswith(name, i):
                before_ok = i == 0 or not _is_word_char(text[i - 1]) or not _is_word_char(name[0])
                after_ok = (
                    end == len(text) or not _is_word_char(text[end]) or not _is_word_char(name[-1])
                )
                if before_ok and after_ok:
                    pieces.append(f" __coef{names[name]}__ ")
                    i = end
                    break
        else:
            pieces.append(text[i])
            i += 1
    expression = "".join(pieces)
    leftover = re.sub(r"__coef\d+__|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|[-+*/()\s]", " ", expression)
    if leftover.strip():
        raise ValueError(
            f"contrast {text!r} names {leftover.split()} which are not coefficients; the "
            f"coefficients are {list(coef_names)} (a reference level has no coefficient)"
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        value = _linear(tree.body, len(coef_names), text, coef_names)
    except (SyntaxError, _ContrastError) as err:
        raise ValueError(
            f"contrast {text!r} is not a linear expression in the coefficient names "
            f"{list(coef_names)} ({err}); write e.g. '{coef_names[-1]} - {coef_names[0]}'"
        ) from None
    if isinstance(value, float):
        raise ValueError(
            f"contrast {text!r} names no coefficient; the coefficients are {list(coef_names)}"
        )
    return value


class _ContrastError(Exception):
    pass


def _linear(node: ast.AST, p: int, text: str, coef_names: Sequence[str]) -> FloatArray | float:
    """Evaluate a linear expression: vectors for coefficients, floats for constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        match = re.fullmatch(r"__coef(\d+)__", node.id)
        if not match:
            raise _ContrastError(f"unknown name {node.id!r}")
        vec = np.zeros(p)
        vec[int(match.group(1))] = 1.0
        return vec
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _linear(node.operand, p, text, coef_names)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left = _linear(node.left, p, text, coef_names)
        right = _linear(node.right, p, text, coef_names)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            if isinstance(left, float) or isinstance(right, float):
                return left * right
            raise _ContrastError("a product of two coefficients is not linear")
        if isinstance(node.op, ast.Div):
            if isinstance(right, float) and right != 0.0:
                return left / right
            raise _ContrastError("division by a coefficient or by zero")
    raise _ContrastError(f"unsupported element {ast.dump(node)[:40]}")


def contrast_matrix(
    index: Any, contrast: Any, coef_names: Sequence[str]
) -> tuple[FloatArray, list[str]]:
    """The contrasts to test as rows of L (c × p) and their names.

    ``contrast`` wins over ``index``; ``contrast`` may be a string, a list of strings, a
    vector of length p, a p × c matrix (columns are contrasts, as in limma and FLASHMM) or a
    DataFrame with the coefficient names as index. ``index``: coefficient positions or names.
    """
    p = len(coef_names)
    if contrast is not None:
        if isinstance(contrast, str):
            contrast = [contrast]
        if isinstance(contrast, (list, tuple)) and all(isinstance(c, str) for c in contrast):
            rows = [parse_contrast(c, coef_names) for c in contrast]
            return np.array(rows), [c.strip() for c in contrast]
        if isinstance(contrast, pd.DataFrame):
            labels = [str(i) for i in contrast.index]
            if sorted(labels) != sorted(coef_names):
                raise ValueError(
                    f"contrast's index {labels} must list the coefficients {list(coef_names)}"
                )
            mat = contrast.loc[list(coef_names)].to_numpy(dtype=float)
            return np.ascontiguousarray(mat.T), [str(c) for c in contrast.columns]
        mat = np.asarray(contrast, dtype=float)
        if mat.ndim == 1:
            mat = mat[:, None]
        if mat.ndim != 2 or mat.shape[0] != p:
            raise ValueError(
                f"contrast has shape {np.shape(contrast)}; a contrast matrix is p × c with "
                f"p = {p} rows (one per coefficient {list(coef_names)}) and one column per "
                "contrast (or pass strings such as 'B - A')"
            )
        if not np.isfinite(mat).all():
            raise ValueError("contrast has non-finite entries")
        return np.ascontiguousarray(mat.T), [f"contrast{j}" for j in range(mat.shape[1])]
    if index is None:
        return np.eye(p), list(coef_names)
    items = [index] if isinstance(index, (int, np.integer, str)) else list(index)
    positions = []
    for item in items:
        if isinstance(item, str):
            lookup = _aliases(coef_names)
            if item not in lookup:
                raise ValueError(f"index {item!r} is not a coefficient: {list(coef_names)}")
            positions.append(lookup[item])
        else:
            j = int(item)
            if not -p <= j < p:
                raise ValueError(f"index {j} is out of range for {p} coefficients")
            positions.append(j % p)
    return np.eye(p)[positions], [coef_names[j] for j in positions]
