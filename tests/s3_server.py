"""A real S3 API server on 127.0.0.1 for the tests: moto's standalone server, in a thread.

Tests talk to it through s3fs exactly as they would to AWS: the endpoint and
credentials come from the standard environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``...), set by :func:`s3_environment`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def s3_environment() -> Iterator[str]:
    """Start the server, point the AWS environment at it; yields the endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.delenv("AWS_PROFILE", raising=False)
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()
        try:
            yield endpoint
        finally:
            fsspec.filesystem("s3").clear_instance_cache()
            server.stop()


def upload(local: Path, url: str) -> str:
    """Copy a local folder to ``url`` (s3://bucket/prefix); returns the URL."""
    import fsspec

    fs = fsspec.filesystem("s3")
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{url.removeprefix('s3://')}/{path.relative_to(local).as_posix()}",
                         path.read_bytes())
    fs.invalidate_cache()
    return url

