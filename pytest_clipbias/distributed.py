"""``embed`` partition by partition, in this process or on Spark, resumable, into any fsspec URL.

The images (a manifest's FaceSet, or a parquet of paths/URLs with attribute
columns) are cut into partitions of ``shard_size`` rows, in input order;
partition ``i`` becomes shard ``i`` of the clip-retrieval layout
(``img_emb/img_emb_{i}.npy`` + ``metadata/metadata_{i}.parquet``). Each
partition is one task: it encodes its images with the model under test,
writes its two files whole (see :class:`~pytest_clipbias.remote.Folder`) and
then a marker ``clipbias-parts/part_{i}.json`` holding the shard's digests.
So a partition is either finished (marker present) or redone; a rerun of
the same job (same images, attributes, model and layout, recorded in
``clipbias-job.json``) keeps the finished partitions and encodes only the
rest. When every partition is finished the store is signed
(``clipbias.json`` lists every shard with its digests, as
:func:`~pytest_clipbias.embeddings.write_store` writes it) and the job files
are removed.

Engines: ``"local"`` runs the partitions in this process, one after
another; ``"spark"`` runs them as tasks of one Spark job (``pyspark``; a
running SparkSession is used when there is one, else one is started with
``master``, e.g. ``local[2]``). The model is pickled once on the driver
(weights included, cache left behind) and broadcast, so executors need
neither the checkpoint file nor network access to a hub; each executor
process unpickles it once and checks its fingerprint before encoding.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import pickle
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ClipBiasError, ConfigurationError
from .remote import Folder, is_remote

JOB_FILE = "clipbias-job.json"
PARTS = "clipbias-parts"
#: column names taken as the image column of an input parquet, in this order
PATH_COLUMNS = ("image_path", "path", "url")

_MODELS: dict[str, Any] = {}  # per executor process: fingerprint -> unpickled model
_LOCK = threading.Lock()


class EmbedTaskError(ClipBiasError):
    """A partition could not be encoded; the finished ones are kept for a rerun."""


@dataclass
class Images:
    """What to embed: image paths or URLs (input order) and their attribute columns.

    ``attributes`` is a pyarrow Table with one row per image; its column
    types are written unchanged.
    """

    paths: list[str]
    attributes: Any
    name: str = "images"
    storage_options: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """Content identity of the input: paths, column names, types and values, in order."""
        h = hashlib.sha256()
        for p in self.paths:
            h.update(p.encode() + b"\0")
        h.update(str(self.attributes.schema).encode())
        for column in self.attributes.columns:
            h.update(json.dumps(column.to_pylist(), default=str).encode())
        return h.hexdigest()[:32]


def images_from_faceset(faces: Any) -> Images:
    """A FaceSet of image files: absolute paths and its attributes as string columns."""
    import pyarrow as pa

    bad = [i for i, item in enumerate(faces) if not isinstance(item.image, (str, os.PathLike))]
    if bad:
        raise ConfigurationError(f"{faces.name}: item {bad[0]} (and {len(bad) - 1} more) is an "
                                 "in-memory image; embeddings are stored by path, embed image "
                                 "files")
    keys = faces.keys()
    table = pa.table({k: pa.array([item.get(k) or "" for item in faces], pa.string())
                      for k in keys})
    return Images([os.path.abspath(os.fspath(item.image)) for item in faces], table, faces.name)


def images_from_parquet(location: str, *, path_column: str | None = None,
                        storage_options: Mapping[str, Any] | None = None) -> Images:
    """A parquet file (local or URL) of image paths/URLs plus attribute columns, types kept.

    The image column is ``path_column``, else the first of image_path, path,
    url. Relative local paths are taken from the parquet's folder.
    """
    import pyarrow.parquet as pq

    options = dict(storage_options or {})
    folder, _, name = location.rstrip("/").rpartition("/")
    where = Folder(folder or ".", options)
    table = pq.read_table(_buffer(where.read_bytes(name)))
    column = path_column or next((c for c in PATH_COLUMNS if c in table.column_names), None)
    if column is None or column not in table.column_names:
        raise ConfigurationError(f"{location}: no image column {path_column or PATH_COLUMNS!r}; "
                                 f"its columns are {', '.join(table.column_names)}. Name it with "
                                 "--path-column")
    values = table.column(column).to_pylist()
    empty = [i for i, v in enumerate(values) if not v]
    if empty:
        raise ConfigurationError(f"{location}: {len(empty)} rows without an image in column "
                                 f"{column!r} (first: row {empty[0]}); fill or drop them")
    base = folder if is_remote(location) else os.path.dirname(os.path.abspath(location))
    paths = [v if "://" in v or os.path.isabs(v) else os.path.join(base, v) for v in values]
    return Images(paths, table.drop([column]), name.rsplit(".", 1)[0], options)


def _buffer(data: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(data)


@dataclass
class EmbedReport:
    """What a run did: where the store is, which partitions it encoded and which it kept."""

    out: Any
    partitions: int
    encoded: list[int]
    kept: list[int]
    rows: int


def embed(images: Images, model: Any, out: str | os.PathLike, *, shard_size: int = 100_000,
          dtype: str = "float16", engine: str = "local", master: str | None = None,
          storage_options: Mapping[str, Any] | None = None,
          on_progress: Callable[[int, int], None] | None = None) -> EmbedReport:
    """Encode ``images`` with ``model`` into the clip-retrieval layout at ``out``, resumably.

    See the module docstring. ``engine`` is "local" or "spark"; ``master``
    the Spark master when no session is running (default ``local[*]``).
    ``on_progress(done_images, total_images)`` is called as partitions finish.
    """
    from .embeddings import holds_embeddings
    from .progress import progress

    if engine not in ("local", "spark"):
        raise ConfigurationError(f"engine must be 'local' or 'spark', got {engine!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ConfigurationError(f"shard_size must be a positive integer, got {shard_size!r}")
    if not images.paths:
        raise ConfigurationError(f"{images.name}: nothing to embed (no images)")
    folder = Folder(out, storage_options)
    bounds = [*range(0, len(images.paths), shard_size), len(images.paths)]
    job = {"input": images.digest(), "model": str(getattr(model, "name", "")),
           "model_fingerprint": model.fingerprint, "dtype": dtype, "shard_size": shard_size,
           "rows": len(images.paths), "partitions": len(bounds) - 1}
    _claim(folder, job, holds_embeddings(folder))
    done = _finished(folder, job)
    todo = [i for i in range(job["partitions"]) if i not in done]
    specs = [_Spec(i, bounds[i], bounds[i + 1]) for i in todo]
    total = len(images.paths)
    with progress(f"embedding {images.name} ({job['model']}, {engine})", total=total) as bar:
        finished = sum(bounds[i + 1] - bounds[i] for i in done)
        bar.update(finished)

        def report(rows: int) -> None:
            nonlocal finished
            finished += rows
            bar.update(rows)
            if on_progress is not None:
                on_progress(finished, total)

        runner = _run_spark if engine == "spark" else _run_local
        done.update(runner(specs, images, model, folder, job, master, report))
    _finish(folder, job, [done[i] for i in range(job["partitions"])])
    return EmbedReport(folder.where(), job["partitions"], todo, sorted(set(done) - set(todo)),
                       total)


@dataclass(frozen=True)
class _Spec:
    index: int
    lo: int
    hi: int


def _claim(folder: Folder, job: dict[str, Any], has_shards: bool) -> None:
    """Start or resume ``job`` in ``folder``; refuse a folder holding anything else."""
    if folder.exists(JOB_FILE):
        try:
            theirs = json.loads(folder.read_bytes(JOB_FILE))
        except ValueError:
            theirs = None
        if theirs != job:
            raise ConfigurationError(
                f"{folder.where(JOB_FILE)}: this folder holds an unfinished embed of other "
                "images, another model or another layout (--shard-size, --dtype); rerun that "
                "command to finish it, or choose an empty output folder")
        return
    if has_shards:
        raise ConfigurationError(f"{folder.where('img_emb')} already holds embeddings; choose "
                                 "an empty output folder")
    folder.write_bytes(JOB_FILE, json.dumps(job, indent=2).encode())


def _finished(folder: Folder, job: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Records of the partitions a previous run finished (marker present, files present)."""
    out = {}
    for name in folder.listdir(PARTS) or ():
        if not (name.startswith("part_") and name.endswith(".json")):
            continue
        try:
            marker = json.loads(folder.read_bytes(PARTS, name))
        except ValueError:
            continue
        record = marker.get("record", {})
        if marker.get("job") == job["input"] + job["model_fingerprint"] and folder.exists(
                "img_emb", record.get("emb", "?")) and folder.exists(
                "metadata", record.get("metadata", "?")):
            out[int(marker["index"])] = record
    return out


def _finish(folder: Folder, job: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Sign the store (the sidecar lists every shard), then remove the job's own files."""
    from .embeddings import write_sidecar

    write_sidecar(folder, model=job["model"], fingerprint=job["model_fingerprint"],
                  dim=_dim(folder, records[0]), dtype=job["dtype"], records=records)
    for i in range(job["partitions"]):
        folder.remove(f"{PARTS}/part_{i}.json")
    folder.prune(PARTS)
    folder.remove(JOB_FILE)


def _dim(folder: Folder, record: dict[str, Any]) -> int:
    import io

    head = io.BytesIO(folder.read_range(f"img_emb/{record['emb']}", 0, 4096))
    fmt = np.lib.format
    version = fmt.read_magic(head)
    reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    return int(reader(head)[0][1])


def encode_partition(spec: _Spec, images: Images, model: Any, folder: Folder,
                     job: dict[str, Any]) -> dict[str, Any]:
    """Encode, write and mark one partition; returns its sidecar record."""
    from .embeddings import metadata_table, write_shard

    paths = images.paths[spec.lo:spec.hi]
    emb = model.encode_images([_image(p, images.storage_options) for p in paths])
    table = metadata_table(paths, images.attributes.slice(spec.lo, spec.hi - spec.lo))
    record = write_shard(folder, spec.index, job["partitions"], emb, table, dtype=job["dtype"])
    marker = {"index": spec.index, "job": job["input"] + job["model_fingerprint"],
              "record": record}
    folder.write_bytes(f"{PARTS}/part_{spec.index}.json", json.dumps(marker).encode())
    return record


def _image(path: str, options: Mapping[str, Any]) -> Any:
    """A local path as is; a URL fetched through fsspec and decoded as files are."""
    if not is_remote(path):
        return path
    import fsspec

    from .images import decode_image

    with fsspec.open(path, "rb", **options) as fh:
        return decode_image(fh.read(), path)


def _run_local(specs: Sequence[_Spec], images: Images, model: Any, folder: Folder,
               job: dict[str, Any], master: str | None, report: Callable[[int], None]
               ) -> dict[int, dict[str, Any]]:
    out = {}
    for spec in specs:
        out[spec.index] = _guarded(spec, lambda s=spec: encode_partition(s, images, model, folder,
                                                                         job))
        report(spec.hi - spec.lo)
    return out


def _guarded(spec: _Spec, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return work()
    except (ClipBiasError, OSError, ValueError) as exc:
        raise EmbedTaskError(f"partition {spec.index} (images {spec.lo}..{spec.hi - 1}) failed: "
                             f"{exc}. Finished partitions are kept: fix the cause and rerun the "
                             "same command to encode the rest") from exc


# -- Spark -----------------------------------------------------------------------------------


def shippable(model: Any) -> bytes:
    """The model pickled for executors: weights and transforms, without cache or memo."""
    from .cache import MemoryCache

    clone = copy.copy(model)
    clone.cache = None
    if hasattr(clone, "memo"):
        clone.memo = MemoryCache(0)
    for klass in type(clone).__mro__:  # derived values are rebuilt on the executor
        for name, value in vars(klass).items():
            if isinstance(value, functools.cached_property):
                vars(clone).pop(name, None)
    return pickle.dumps(clone, protocol=pickle.HIGHEST_PROTOCOL)


def executor_model(blob: Any, fingerprint: str) -> Any:
    """The broadcast model, unpickled once per executor process and checked."""
    with _LOCK:
        model = _MODELS.get(fingerprint)
        if model is None:
            model = pickle.loads(blob.value if hasattr(blob, "value") else blob)
            mine = model._compute_fingerprint() if hasattr(model, "_compute_fingerprint") \
                else model.fingerprint
            if mine != fingerprint:
                raise EmbedTaskError(f"the model unpickled on this executor has fingerprint "
                                     f"{mine[:12]}, the driver's {fingerprint[:12]}: executors "
                                     "need the same pytest-clipbias, torch and open_clip")
            _MODELS[fingerprint] = model
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is not None and hasattr(model, "threads"):
        model.threads = max(1, int(context.cpus()))
    return model


def spark_session(master: str | None = None) -> Any:
    """The running SparkSession, or a new one on ``master`` (default ``local[*]``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigurationError("engine 'spark' needs pyspark (and Java 17+): pip install "
                                 "'pytest-clipbias[distributed]'") from exc
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    # executors of a local master run this interpreter (with this environment's packages),
    # not whatever "python3" is first on PATH; clusters set PYSPARK_PYTHON themselves
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        return (SparkSession.builder.master(master or "local[*]")
                .appName("pytest-clipbias embed").config("spark.ui.enabled", "false")
                .config("spark.python.worker.reuse", "true").getOrCreate())
    except Exception as exc:  # pyspark raises its own types when the JVM cannot start
        raise ConfigurationError(
            f"Spark could not start on master {master or 'local[*]'!r} ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}); it needs "
            "Java 17+ (java on PATH or JAVA_HOME; apt-get install openjdk-17-jre-headless)"
        ) from exc


def _run_spark(specs: Sequence[_Spec], images: Images, model: Any, folder: Folder,
               job: dict[str, Any], master: str | None, report: Callable[[int], None]
               ) -> dict[int, dict[str, Any]]:
    if not specs:
        return {}
    spark = spark_session(master)
    sc = spark.sparkContext
    blob = sc.broadcast(shippable(model))
    fingerprint, url, options = model.fingerprint, folder.url, folder.storage_options
    parts = [(s, Images(images.paths[s.lo:s.hi], images.attributes.slice(s.lo, s.hi - s.lo),
                        images.name, images.storage_options)) for s in specs]

    def task(item: tuple[_Spec, Images]) -> tuple[int, dict[str, Any]]:
        spec, part = item
        local = _Spec(spec.index, 0, spec.hi - spec.lo)
        return spec.index, _guarded(spec, lambda: encode_partition(
            local, part, executor_model(blob, fingerprint), Folder(url, options), job))

    group = f"clipbias-embed-{job['input'][:12]}-{os.getpid()}"
    sc.setJobGroup(group, f"pytest-clipbias embed {images.name}", interruptOnCancel=True)
    watcher = _Watcher(sc, group, [s.hi - s.lo for s in specs], report)
    watcher.start()
    try:
        results = sc.parallelize(parts, len(parts)).map(task).collect()
    except Exception as exc:
        watcher.stop(complete=False)
        raise EmbedTaskError(_spark_failure(exc)) from None
    finally:
        blob.unpersist()
    watcher.stop(complete=True)
    return dict(results)


def _spark_failure(exc: Exception) -> str:
    """The task's own error message out of a Spark job failure, plus what to do."""
    text = str(exc)
    marker = "EmbedTaskError: "
    if marker in text:
        return text[text.index(marker) + len(marker):].split("\n")[0]
    return (f"the Spark job failed ({text.strip().splitlines()[0] if text.strip() else exc!r}). "
            "Finished partitions are kept: fix the cause and rerun the same command to encode "
            "the rest")


class _Watcher(threading.Thread):
    """Reports finished partitions of the Spark job group as they complete."""

    def __init__(self, sc: Any, group: str, sizes: list[int], report: Callable[[int], None]):
        super().__init__(daemon=True, name="clipbias-embed-progress")
        self.sc, self.group, self.report = sc, group, report
        self.mean = sum(sizes) / len(sizes)
        self.total, self.reported, self.halt = sum(sizes), 0, threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.poll()

    def poll(self) -> None:
        tracker = self.sc.statusTracker()
        done = 0
        for job_id in tracker.getJobIdsForGroup(self.group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                stage = tracker.getStageInfo(stage_id)
                done += stage.numCompletedTasks if stage else 0
        rows = min(self.total, round(done * self.mean))
        if rows > self.reported:
            self.report(rows - self.reported)
            self.reported = rows

    def stop(self, *, complete: bool) -> None:
        """Stop polling; a complete job reports whatever the last poll missed."""
        if self.halt.is_set():
            return
        self.halt.set()
        self.join()
        if complete and self.reported < self.total:
            self.report(self.total - self.reported)
