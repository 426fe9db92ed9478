"""Result objects of the many-feature models: fields read as attributes and as keys.

Every model of :mod:`kronlmm.features` returns a :class:`FeatureResult` (or a subclass):
a small mutable mapping of named fields — NumPy arrays with one row per feature, design
matrices, scalars — that also reads as attributes, so ``fit.t`` and ``fit["t"]`` are the
same object (pylimma's and limma's scripts use the key form, Python users the attribute
form). ``feature_names`` (from a DataFrame index or ``adata.var_names``) travel with the
result and label the rows of :meth:`FeatureResult.to_dataframe`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FeatureResult"]


class FeatureResult(MutableMapping[str, Any]):
    """Named fields readable as ``result.name`` and ``result["name"]``.

    Parameters
    ----------
    fields : mapping, optional
        Initial fields (copied shallowly: the arrays are shared, not copied).
    **more
        Further fields.

    Notes
    -----
    Field names must be valid identifiers that do not start with an underscore (they
    become attributes). Reading a missing field raises ``AttributeError`` (attribute form)
    or ``KeyError`` (key form) naming the fields that exist. ``feature_names`` is an
    ordinary field (``None`` when the input carried no names).

    Examples
    --------
    >>> import numpy as np
    >>> from kronlmm.features import FeatureResult
    >>> res = FeatureResult(t=np.array([1.5, -0.2]), feature_names=["geneA", "geneB"])
    >>> res.t is res["t"]
    True
    >>> res.df_prior = 4.0  # attribute assignment adds a field
    >>> sorted(res)
    ['df_prior', 'feature_names', 't']
    >>> res.to_dataframe()
             t
    geneA  1.5
    geneB -0.2
    """

    def __init__(self, fields: Mapping[str, Any] | None = None, **more: Any) -> None:
        object.__setattr__(self, "_fields", {})
        for key, value in {**dict(fields or {}), **more}.items():
            self[key] = value

    # ---- mapping protocol -------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        try:
            return self._fields[key]
        except KeyError:
            raise KeyError(
                f"{type(self).__name__} has no field {key!r}; fields: {sorted(self._fields)}"
            ) from None

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            raise KeyError(f"field names must be identifiers not starting with '_', got {key!r}")
        self._fields[key] = value

    def __delitem__(self, key: str) -> None:
        del self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    # ---- attribute access -------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            return fields[name]
        raise AttributeError(
            f"{type(self).__name__} has no field {name!r}; fields: {sorted(fields)}"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        if name in self._fields:
            del self._fields[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._fields))

    # ---- convenience --------------------------------------------------------------------
    def copy(self) -> FeatureResult:
        """A shallow copy of the same class (new field dict, shared arrays)."""
        return type(self)(self._fields)

    @property
    def nfeatures(self) -> int | None:
        """Number of features (rows), from ``feature_names`` or the first per-feature
        array; ``None`` if neither is present."""
        names = self._fields.get("feature_names")
        if names is not None:
            return len(names)
        for value in self._fields.values():
            if isinstance(value, np.ndarray) and value.ndim >= 1:
                return int(value.shape[0])
        return None

    def to_dataframe(self, fields: list[str] | None = None) -> pd.DataFrame:
        """Per-feature fields as a DataFrame indexed by ``feature_names``.

        One-dimensional arrays of length m (the number of features) become columns; a
        two-dimensional (m, k) array becomes k columns ``name_<j>`` (or
        ``name_<coef_name>`` when the result has ``coef_names`` of length k). Other fields
        are left out unless named in ``fields``, in which case a field that is not
        per-feature raises ValueError.
        """
        m = self.nfeatures
        if m is None:
            raise ValueError("this result holds no per-feature field")
        names = self._fields.get("feature_names")
        index = pd.Index(list(names) if names is not None else np.arange(m))
        coef_names = self._fields.get("coef_names")
        columns: dict[str, Any] = {}
        keys = list(self._fields) if fields is None else list(fields)
        for key in keys:
            value = self[key]
            if key in ("feature_names", "coef_names"):
                continue
            arr = np.asarray(value) if isinstance(value, (np.ndarray, list, pd.Series)) else None
            if arr is None or arr.ndim == 0 or arr.shape[0] != m or arr.ndim > 2:
                if fields is not None:
                    raise ValueError(
                        f"field {key!r} is not a per-feature array of length {m} "
                        f"(it is {type(value).__name__}"
                        f"{'' if arr is None else f' of shape {arr.shape}'})"
                    )
                continue
            if arr.ndim == 1:
                columns[key] = arr
            else:
                labels = (
                    list(coef_names)
                    if coef_names is not None and len(coef_names) == arr.shape[1]
                    else [str(j) for j in range(arr.shape[1])]
                )
                for j, label in enumerate(labels):
                    columns[f"{key}_{label}"] = arr[:, j]
        return pd.DataFrame(columns, index=index)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} with {len(self._fields)} fields"]
        for key, value in self._fields.items():
            if isinstance(value, np.ndarray):
                desc = f"ndarray {value.shape} {value.dtype}"
            elif isinstance(value, (pd.DataFrame, pd.Series)):
                desc = f"{type(value).__name__} {value.shape}"
            elif isinstance(value, (list, tuple)) and len(value) > 6:
                desc = f"{type(value).__name__} of {len(value)}"
            else:
                desc = repr(value)
            lines.append(f"  {key}: {desc}")
        return "\n".join(lines)
