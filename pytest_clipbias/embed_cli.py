"""``python -m pytest_clipbias embed``: write image embeddings in the clip-retrieval layout.

    python -m pytest_clipbias embed OUT --manifest faces.csv --clip-model ViT-B-32 \\
        --clip-pretrained openai [--clip-device cuda] [--shard-size 100000]
    python -m pytest_clipbias embed OUT --dataset fairface --data-root data --clip-model ...
    python -m pytest_clipbias embed s3://bucket/emb --parquet s3://bucket/images.parquet \\
        --engine spark [--spark-master local[2]] --clip-model ... [--storage-option K=V]
    python -m pytest_clipbias embed --sign DIR --clip-model ViT-B-32 --clip-pretrained openai

The first forms embed a dataset's images once (e.g. on a GPU box or a Spark
cluster) into ``OUT/img_emb/img_emb_{i}.npy`` +
``OUT/metadata/metadata_{i}.parquet`` (``image_path`` plus the dataset's
attributes as columns, a parquet's column types kept) and sign the store
in ``OUT/clipbias.json`` (the model's fingerprint, every shard's digests);
audit them anywhere with ``pytest --clip-embeddings OUT``. OUT is a folder
or an fsspec URL. One shard is one partition; an interrupted or failed run
is finished by running the same command again, which keeps the finished
partitions. ``--sign`` records that an existing folder (e.g. written by
clip-retrieval) was made by the given model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .errors import ClipBiasError


def add_parser(sub: Any) -> None:
    """Register the ``embed`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("embed", help="write image embeddings in the clip-retrieval layout",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", help="output folder or fsspec URL (must not hold "
                   "embeddings yet, unless it holds this same unfinished embed)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--manifest", help="CSV/JSONL manifest: a path column plus attributes")
    src.add_argument("--parquet", metavar="FILE|URL",
                     help="parquet of image paths or URLs (column image_path, path or url) plus "
                     "attribute columns, whose types are kept")
    src.add_argument("--dataset", help="dataset name: fairface, cfd, utkface, folders")
    src.add_argument("--sign", metavar="DIR|URL",
                     help="record in DIR/clipbias.json that --clip-model made its embeddings")
    p.add_argument("--path-column", help="image column of --parquet (default: image_path, path "
                   "or url)")
    p.add_argument("--data-root", help="folder holding the --dataset")
    p.add_argument("--clip-model", required=True, help="open_clip name or hf:ORG/NAME|hf:/dir")
    p.add_argument("--clip-pretrained", help="weights tag, checkpoint path, or none")
    p.add_argument("--clip-device", default="auto")
    p.add_argument("--clip-precision", default="fp32")
    p.add_argument("--clip-batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=100_000,
                   help="rows per img_emb_{i}.npy file, one partition each (default 100000)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                   help="stored precision (clip-retrieval writes float16; default)")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: this process (default); spark: one Spark task per partition")
    p.add_argument("--spark-master", help="Spark master when no session is running, e.g. "
                   "local[2] or spark://host:7077 (default: the running session, else local[*])")
    p.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                   help="fsspec storage option for URLs (OUT, --parquet, --sign, image URLs); "
                   "repeatable. Credentials otherwise come from the standard environment")


def run(args: argparse.Namespace) -> int:
    """Execute ``embed``; returns the exit status (2 on bad input)."""
    try:
        return _run(args)
    except (ClipBiasError, ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .distributed import embed
    from .embeddings import sign_store
    from .model import ClipModel
    from .remote import parse_storage_options

    if not args.sign and not (args.out and (args.manifest or args.dataset or args.parquet)):
        raise ValueError("give OUT and --manifest, --parquet or --dataset, or --sign DIR")
    if args.shard_size < 1:
        raise ValueError(f"--shard-size must be positive, got {args.shard_size}")
    options = parse_storage_options(args.storage_option)
    model = ClipModel.load(args.clip_model, args.clip_pretrained, device=args.clip_device,
                           precision=args.clip_precision, batch_size=args.clip_batch_size)
    if args.sign:
        print(sign_store(args.sign, model, storage_options=options))
        return 0
    images = _open(args, options)
    t0 = time.perf_counter()

    def show(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - t0, 1e-9)
        print(f"embedded {done}/{total} images ({rate:.1f}/s)", file=sys.stderr)

    report = embed(images, model, args.out, shard_size=args.shard_size, dtype=args.dtype,
                   engine=args.engine, master=args.spark_master, storage_options=options,
                   on_progress=show)
    if report.kept:
        print(f"kept {len(report.kept)} partitions finished by an earlier run, encoded "
              f"{len(report.encoded)}", file=sys.stderr)
    print(report.out)
    return 0


def _open(args: argparse.Namespace, options: dict[str, Any]) -> Any:
    from .data.registry import open_dataset
    from .distributed import images_from_faceset, images_from_parquet

    if args.parquet:
        return images_from_parquet(args.parquet, path_column=args.path_column,
                                   storage_options=options)
    root = Path(args.data_root) if args.data_root else None
    if args.manifest:
        faces = open_dataset("manifest", data_root=root, base_dir=Path.cwd(), path=args.manifest)
    else:
        faces = open_dataset(args.dataset, data_root=root, base_dir=Path.cwd())
    return images_from_faceset(faces)
