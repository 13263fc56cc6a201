"""``python -m pytest_clipbias embed``: write image embeddings in the clip-retrieval layout.

    python -m pytest_clipbias embed OUT --manifest faces.csv --clip-model ViT-B-32 \\
        --clip-pretrained openai [--clip-device cuda] [--shard-size 100000]
    python -m pytest_clipbias embed OUT --dataset fairface --data-root data --clip-model ...
    python -m pytest_clipbias embed --sign DIR --clip-model ViT-B-32 --clip-pretrained openai

The first forms embed a dataset's images once (e.g. on a GPU box) into
``OUT/img_emb/img_emb_{i}.npy`` + ``OUT/metadata/metadata_{i}.parquet``
(``image_path`` plus the dataset's attributes as columns) and record the
model's fingerprint in ``OUT/clipbias.json``; audit them anywhere with
``pytest --clip-embeddings OUT``. ``--sign`` records that an existing folder
(e.g. written by clip-retrieval) was made by the given model.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ClipBiasError


def add_parser(sub: Any) -> None:
    """Register the ``embed`` subcommand on an argparse subparsers object."""
    p = sub.add_parser("embed", help="write image embeddings in the clip-retrieval layout",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("out", nargs="?", help="output folder (must not hold embeddings yet)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--manifest", help="CSV/JSONL manifest: a path column plus attributes")
    src.add_argument("--dataset", help="dataset name: fairface, cfd, utkface, folders")
    src.add_argument("--sign", metavar="DIR",
                     help="record in DIR/clipbias.json that --clip-model made its embeddings")
    p.add_argument("--data-root", help="folder holding the --dataset")
    p.add_argument("--clip-model", required=True, help="open_clip name or hf:ORG/NAME|hf:/dir")
    p.add_argument("--clip-pretrained", help="weights tag, checkpoint path, or none")
    p.add_argument("--clip-device", default="auto")
    p.add_argument("--clip-precision", default="fp32")
    p.add_argument("--clip-batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=100_000,
                   help="rows per img_emb_{i}.npy file (default 100000)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                   help="stored precision (clip-retrieval writes float16; default)")


def run(args: argparse.Namespace) -> int:
    """Execute ``embed``; returns the exit status (2 on bad input)."""
    try:
        return _run(args)
    except (ClipBiasError, ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .embeddings import sign_store, write_store
    from .model import ClipModel

    if not args.sign and not (args.out and (args.manifest or args.dataset)):
        raise ValueError("give OUT and --manifest or --dataset, or --sign DIR")
    if args.shard_size < 1:
        raise ValueError(f"--shard-size must be positive, got {args.shard_size}")
    model = ClipModel.load(args.clip_model, args.clip_pretrained, device=args.clip_device,
                           precision=args.clip_precision, batch_size=args.clip_batch_size)
    if args.sign:
        print(sign_store(args.sign, model))
        return 0
    faces = _open(args)
    bad = [i for i, item in enumerate(faces) if not isinstance(item.image, (str, os.PathLike))]
    if bad:
        raise ValueError(f"{faces.name}: item {bad[0]} (and {len(bad) - 1} more) is an "
                         "in-memory image; embeddings are stored by path, embed image files")
    n_shards = -(-len(faces) // args.shard_size)
    out = write_store(args.out, _batches(model, faces, args.shard_size), model=model.name,
                      fingerprint=model.fingerprint, dtype=args.dtype, n_shards=n_shards)
    print(out)
    return 0


def _open(args: argparse.Namespace) -> Any:
    from .data.registry import open_dataset

    root = Path(args.data_root) if args.data_root else None
    if args.manifest:
        return open_dataset("manifest", data_root=root, base_dir=Path.cwd(), path=args.manifest)
    return open_dataset(args.dataset, data_root=root, base_dir=Path.cwd())


def _batches(model: Any, faces: Any, size: int) -> Iterator[tuple[Any, list[str], dict]]:
    """One shard per ``size`` items: embeddings, absolute paths, attribute columns."""
    keys = faces.keys()
    t0, done = time.perf_counter(), 0
    for lo in range(0, len(faces), size):
        part = faces[lo:lo + size]
        emb = model.encode_images(part.images)
        done += len(part)
        rate = done / max(time.perf_counter() - t0, 1e-9)
        print(f"embedded {done}/{len(faces)} images ({rate:.1f}/s)", file=sys.stderr)
        yield (emb, [os.path.abspath(os.fspath(i.image)) for i in part],
               {k: [i.get(k) or "" for i in part] for k in keys})
