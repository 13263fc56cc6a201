"""Input checks shared by every helper: arguments, groups in the data, encoder output.

A verdict never comes from broken input: each check raises a TypeError or
ValueError that names the parameter (or the encoder and the first bad row)
and says what to do, before any statistic is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..data.faceset import FaceSet
from ..model import not_a_single


def number(value: Any, name: str, *, low: float | None = None,
           high: float | None = None) -> float:
    """A finite real number (not a bool, not a string) in [``low``, ``high``] when given."""
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and f < low:
        raise ValueError(f"{name} must be at least {low:g}, got {value!r}")
    if high is not None and f > high:
        raise ValueError(f"{name} must be at most {high:g}, got {value!r}")
    return f


def count_or(value: Any, name: str, default: int, *, low: int = 1) -> int:
    """``default`` when ``value`` is None, else ``value`` as a count of at least ``low``
    (0 is an error, never a silent switch to the default)."""
    return default if value is None else count(value, name, low=low)


def seed_value(value: Any, name: str = "seed") -> Any:
    """A seed: a non-negative integer, a numpy Generator, or None."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    return count(value, name)


def count(value: Any, name: str, *, low: int = 0) -> int:
    """An integer (not a bool) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return int(value)


def text_list(value: Any, name: str, *, minimum: int = 1, exactly: int | None = None
              ) -> list[str]:
    """A list of distinct non-empty strings; a bare string is refused (it is not a list).

    A repeated entry is an error: two identical groups, labels or queries
    would compare a group with itself or count one label twice.
    """
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of strings, got the bare string {value!r}; "
                        f"write {name}=[{value!r}]")
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise TypeError(f"{name} must be a list of strings, got {type(value).__name__}")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise TypeError(f"{name}[{i}] must be a non-empty string, got {item!r}")
    repeated = sorted({x for x in items if items.count(x) > 1})
    if repeated:
        raise ValueError(f"{name} names {repeated} more than once; each entry must be "
                         f"distinct (got {items!r})")
    if exactly is not None and len(items) != exactly:
        raise ValueError(f"{name} must name exactly {exactly} distinct entries, got "
                         f"{len(items)}: {items!r}")
    if len(items) < minimum:
        raise ValueError(f"{name} needs at least {minimum} entr{'y' if minimum == 1 else 'ies'}, "
                         f"got {len(items)}")
    return items


def text(value: Any, name: str) -> str:
    """One non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    return value


def items_list(value: Any, name: str) -> list[Any]:
    """A non-empty list of images or texts; a bare string is refused."""
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list (of images or texts), got the bare string "
                        f"{value!r}; write {name}=[{value!r}]")
    if isinstance(value, FaceSet):
        value = value.images
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of images or texts, got {type(value).__name__}")
    items = list(value)
    if not items:
        raise ValueError(f"{name} is empty")
    return items


def faceset(faces: Any, name: str = "faces") -> FaceSet:
    """A non-empty FaceSet without repeated items (see :func:`distinct_items`)."""
    if not isinstance(faces, FaceSet):
        raise TypeError(f"{name} must be a FaceSet (see clip_dataset or FaceSet.from_manifest), "
                        f"got {type(faces).__name__}")
    if len(faces) == 0:
        raise ValueError(f"{name} is empty")
    distinct_items(faces, name)
    return faces


def distinct_items(faces: FaceSet, name: str = "faces") -> None:
    """Refuse an item repeated with the same image content and attributes.

    A repeated face is no new evidence: it would inflate n and narrow every
    interval (``FaceSet(list(faces) * 2)`` can turn "inconclusive" into
    "pass"). Items are identified by content, as in the data fingerprint
    (file bytes, cached per session, or pixels), never by path or object id;
    items whose image cannot be identified get unique fingerprints, so are
    never called repeats. In-memory pixels are first compared by a sample
    (shape, dtype, 512 evenly spaced values) and fully hashed only when two
    samples agree, so the check adds no second hashing pass.
    """
    from ..identity import data_fingerprint

    seen: dict[Any, list[int]] = {}
    for i, item in enumerate(faces):
        sample = _pixel_sample(item.image)
        key = data_fingerprint(item) if sample is None else (
            sample, tuple(sorted(item.attributes.items())))
        same = seen.setdefault(key, [])
        first = next((j for j in same if sample is None or data_fingerprint(
            faces[j]) == data_fingerprint(item)), None)
        if first is not None:
            raise ValueError(f"{name}: items {first} and {i} are the same face (same image "
                             f"content and attributes: {faces[i]!r}); a repeated face is no "
                             "new evidence and would inflate n: keep one copy of each, e.g. "
                             "build the FaceSet without the repeats")
        same.append(i)


def _pixel_sample(image: Any) -> tuple | None:
    """Shape, dtype and 512 evenly spaced values of an in-memory image (array or PIL);
    None for anything else (files are hashed once per session anyway)."""
    if type(image).__module__.startswith("PIL"):
        image = np.asarray(image)
    if not isinstance(image, np.ndarray) or image.dtype.hasobject:
        return None
    flat = image.reshape(-1)
    return image.shape, image.dtype.str, flat[::max(1, flat.size // 512)].tobytes()


def two_groups(values: Mapping[str, Iterable[str]], param: str, check: str) -> None:
    """Each attribute (name -> its values among the faces) has at least two groups.

    An attribute with one value leaves a group nothing to be compared with,
    and more faces of that group would never help: an error, not "inconclusive".
    """
    for key, found in values.items():
        distinct = sorted(set(found))
        if len(distinct) < 2:
            raise ValueError(f"{param}: the {key!r} attribute has the single value "
                             f"{distinct[0]!r} among the faces; {check} compares at least two "
                             "groups: add faces of another group or compare by another attribute")


def values_of(faces: FaceSet, key: str, param: str) -> list[str | None]:
    """The ``key`` attribute of every face; KeyError naming the known attributes if absent."""
    text(key, param)
    return faces.values(key)


def complete(faces: FaceSet, key: str, param: str) -> list[str]:
    """The ``key`` attribute of every face; faces without it are refused by item number."""
    values = values_of(faces, key, param)
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        raise ValueError(f"{len(missing)} of {len(values)} faces have no {key!r} attribute "
                         f"(first: item {missing[0]}, {faces[missing[0]]!r}); a check never "
                         "leaves faces out silently: filter them out first, e.g. "
                         f"faces.filter({key}=[...])")
    return values  # type: ignore[return-value]


def present(wanted: Sequence[str], found: Iterable[str | None], param: str, where: str) -> None:
    """Every value in ``wanted`` occurs in ``found``; else an error listing the valid ones."""
    have = sorted({v for v in found if v is not None})
    missing = [w for w in wanted if w not in have]
    if missing:
        raise ValueError(f"{param}: {missing} do not occur in {where}; valid values: {have}")


def label_text_keys(label_text: Mapping[str, str] | None, groups: Iterable[str]) -> None:
    """Every key of ``label_text`` names a group of the data."""
    if label_text is None:
        return
    if not isinstance(label_text, Mapping):
        raise TypeError(f"label_text must be a mapping group -> text, got "
                        f"{type(label_text).__name__}")
    present(list(label_text), groups, "label_text keys", "the data's groups")
    for key, value in label_text.items():
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"label_text[{key!r}] must be a non-empty string (the words for "
                            f"the group in a prompt), got {value!r}")


def h_threshold(threshold: Any) -> float:
    """A Cohen's h threshold: h lies in [-pi, pi], so a larger one could never be exceeded
    (usually a percentage typed for a proportion, e.g. 20 for 0.2)."""
    value = number(threshold, "threshold", low=0.0)
    if value >= math.pi:
        raise ValueError(f"threshold {value:g} can never be exceeded: Cohen's h lies between "
                         f"-pi and pi (did you mean {value / 100:g}?)")
    return value


def _encoder_name(encoder: Any) -> str:
    name = getattr(encoder, "name", None)
    return f"{type(encoder).__name__}({name!r})" if isinstance(name, str) else type(
        encoder).__name__


def _as_array(emb: Any, who: str) -> np.ndarray:
    """Encoder output as a real array: numpy, nested lists, or a torch tensor (detached)."""
    if type(emb).__module__.startswith("torch") and callable(getattr(emb, "detach", None)):
        if emb.is_complex():
            raise ValueError(f"{who} returned a complex tensor ({emb.dtype}); embeddings must "
                             "be real: return the real embedding, e.g. tensor.real")
        emb = emb.detach().cpu().double().numpy()  # requires_grad, GPU, bf16 all end here
    try:
        arr = np.asarray(emb)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{who} returned {type(emb).__name__} that is not an (n, d) array "
                         f"({exc}); return a float numpy array") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"{who} returned complex values ({arr.dtype}); embeddings must be "
                         "real: return the real embedding, not a complex transform of it")
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (ValueError, TypeError):
            _not_numbers(arr, who)
    if arr.dtype.kind not in "iuf":
        _not_numbers(arr, who)
    return arr


def _not_numbers(arr: np.ndarray, who: str) -> None:
    first = np.asarray(arr.flat[0]).tolist() if arr.size else None
    raise TypeError(f"{who} returned {arr.dtype} values (e.g. {first!r}), not numbers; it must "
                    "return an (n, d) float array of embeddings")


def check_embeddings(emb: Any, rows: int, encoder: Any, what: str,
                     dim: int | None = None) -> np.ndarray:
    """Encoder output as float64 (rows, d) with L2-normalised rows: finite, non-zero, right shape.

    Rows are first divided by their largest absolute value, so very large
    (1e200) or very small (1e-300) values normalise without overflow or
    underflow: cosine similarity does not depend on scale.
    """
    who = f"{_encoder_name(encoder)}.{what}"
    arr = _as_array(emb, who)
    if arr.ndim != 2 or arr.shape[0] != rows:
        raise ValueError(f"{who} returned shape {arr.shape} for {rows} inputs; expected "
                         f"({rows}, d)")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{who} returned {arr.shape[1]}-d embeddings, expected {dim}-d "
                         "(images and texts must share one embedding space)")
    arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{who} returned NaN or infinite values in {bad.size} rows (first: "
                         f"row {bad[0]}); check the model weights and inputs")
    scale = np.abs(arr).max(axis=1, initial=0.0, keepdims=True)
    zero = np.flatnonzero(scale[:, 0] == 0)
    if zero.size:
        raise ValueError(f"{who} returned {zero.size} all-zero embeddings (first: row "
                         f"{zero[0]}); cosine similarity is undefined for them")
    arr = arr / scale
    return arr / np.linalg.norm(arr, axis=1, keepdims=True)


class CheckedEncoder:
    """Wraps an encoder so that every output is validated (see :func:`check_embeddings`)."""

    def __init__(self, encoder: Any) -> None:
        for method in ("encode_images", "encode_texts"):
            if not callable(getattr(encoder, method, None)):
                raise TypeError(f"the encoder ({type(encoder).__name__}) has no {method}(); "
                                "pass a ClipModel or an object with the encoder protocol")
        self.encoder = encoder
        self.dim: int | None = None

    def _check(self, emb: Any, rows: int, what: str) -> np.ndarray:
        arr = check_embeddings(emb, rows, self.encoder, what, self.dim)
        self.dim = arr.shape[1]
        return arr

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        """Validated image embeddings (float64)."""
        images = list(not_a_single(images, f"{_encoder_name(self.encoder)}.encode_images",
                                   "images"))
        return self._check(self.encoder.encode_images(images), len(images), "encode_images")

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Validated text embeddings (float64)."""
        texts = list(not_a_single(texts, f"{_encoder_name(self.encoder)}.encode_texts",
                                  "texts"))
        return self._check(self.encoder.encode_texts(texts), len(texts), "encode_texts")
