"""Where a build's outputs live on disk, and how a build commits them.

Layout of ``out_dir``::

    .generations/<id>/             every output of one build, and its manifest.json
    .current -> .generations/<id>  the build users see (a symlink)
    <output path> -> .current/<output path>   stable links: the paths users open
    .lock                          the build holding out_dir (pid, host, start time)
    .staging-<id>/                 a build in progress (removed by the next build)

A build writes every output (new, or hard-linked from the previous generation
when its stage was up to date), the GeoPackage and the manifest into a staging
folder, fsyncs them, renames the folder into ``.generations/``, makes sure every
output path is a link into ``.current``, and then switches ``.current`` to the
new generation with one atomic rename. That rename is the commit: before it
every path shows the previous build, after it every path shows the new one.
Old generations, stale links and staging folders are removed afterwards, or by
the next build if this one is killed first.

Fault injection (tests): ``MINESPACE_FAULT=<step>`` makes the build kill itself
(``SIGKILL``; ``MINESPACE_FAULT_SIGNAL=INT`` sends ``SIGINT``, i.e. Ctrl-C) when
it reaches that step; ``MINESPACE_FAULT_TRACE=<file>`` appends the name of every
step reached to *file*. Steps: ``stage:<name>:start``, ``stage:<name>:written``,
``commit:start``, ``commit:geopackage``, ``commit:manifest``, ``commit:synced``,
``commit:renamed``, ``commit:link:<path>``, ``commit:switched``,
``commit:unlinked:<path>``, ``commit:done``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..errors import PipelineError

log = logging.getLogger(__name__)

CURRENT = ".current"
GENERATIONS = ".generations"
LOCK = ".lock"
STAGING_PREFIX = ".staging-"


# -- fault injection -------------------------------------------------------------------------

def fault(step: str) -> None:
    """Test hook: die here if ``MINESPACE_FAULT`` names *step* (see the module notes)."""
    trace = os.environ.get("MINESPACE_FAULT_TRACE")
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(step + "\n")
    if os.environ.get("MINESPACE_FAULT") != step:
        return
    if os.environ.get("MINESPACE_FAULT_SIGNAL", "KILL").upper() in ("INT", "SIGINT"):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)  # the KeyboardInterrupt is raised while waiting
    os.kill(os.getpid(), signal.SIGKILL)


# -- hashing and verification --------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_record(path: Path) -> dict:
    """``{"sha256", "bytes"}`` of *path*."""
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def current_generation(out_dir: Path) -> Path | None:
    """The generation folder ``.current`` points to, or None (no transactional build yet)."""
    link = out_dir / CURRENT
    if not link.is_symlink():
        return None
    target = out_dir / os.readlink(link)
    return target if target.is_dir() else None


def _link_target(out_dir: Path, rel: str) -> str:
    """What the stable link of output *rel* points to (relative, via ``.current``)."""
    return os.path.relpath(out_dir / CURRENT / rel, (out_dir / rel).parent)


def check_output(out_dir: Path, rel: str, record: dict) -> str | None:
    """Why output *rel* does not match its manifest *record*, or None if it does.

    The user-facing path must be the link into ``.current``, and the file its size
    and SHA-256. Older manifests without hashes never match.
    """
    path = out_dir / rel
    if not path.is_symlink() and not path.exists():
        return f"{rel} is missing"
    if not path.is_symlink() or os.readlink(path) != _link_target(out_dir, rel):
        return f"{rel} is not the link into the current build (replaced or moved)"
    if not path.exists():
        return f"{rel} is missing"
    if "sha256" not in record or "bytes" not in record:
        return f"{rel} has no hash in the manifest (built by an older minespace)"
    if path.stat().st_size != record["bytes"]:
        return f"{rel} changed on disk (size {path.stat().st_size} bytes, manifest says " \
               f"{record['bytes']})"
    if sha256_file(path) != record["sha256"]:
        return f"{rel} changed on disk (SHA-256 differs from the manifest)"
    return None


# -- lock ---------------------------------------------------------------------------------------

def _holder(fh) -> str:
    fh.seek(0)
    try:
        info = json.loads(fh.read() or "{}")
    except json.JSONDecodeError:
        info = {}
    if not info:
        return "another process"
    return (f"pid {info.get('pid')} on host {info.get('host')}, started "
            f"{info.get('started')}")


@contextlib.contextmanager
def build_lock(out_dir: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold ``out_dir/.lock`` for the duration of a build.

    An exclusive ``flock`` on the file serialises builds on one folder; the file
    names the holder (pid, host, start time). The operating system releases the
    lock when its process dies, so a lock left by a killed build is taken over at
    once. A second build waits for the first (logging who holds the lock), up to
    *timeout* seconds if given, then raises :class:`~minespace.errors.PipelineError`
    naming the holder.
    """
    import fcntl

    path = out_dir / LOCK
    fh = open(path, "a+", encoding="utf-8")  # held until the build ends
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = _holder(fh)
            log.warning("%s is being built by %s; waiting for it to finish", out_dir, holder)
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline else 0))
                    break
                except OSError as again:
                    if again.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise PipelineError(
                            "lock", f"{out_dir} is being built by {_holder(fh)} (lock file "
                            f"{path}); wait for that build to finish or stop it") from None
                    time.sleep(0.05)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": datetime.now(timezone.utc)
                             .isoformat(timespec="seconds")}))
        fh.flush()
        yield
    finally:
        fh.close()  # releases the flock


# -- cleanup ------------------------------------------------------------------------------------

def cleanup(out_dir: Path, outputs: Iterable[str] = ()) -> None:
    """Remove what killed or finished builds left: staging folders, generations other
    than the current one, temporary links, and stable links to outputs the current
    build does not have (only links into ``.current``; other files are left alone)."""
    current = current_generation(out_dir)
    for stale in out_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    for tmp in out_dir.glob(CURRENT + ".*"):
        tmp.unlink(missing_ok=True)
    for part in out_dir.glob(".*.part.*"):  # atomic writes of older minespace versions
        if part.is_file():
            part.unlink(missing_ok=True)
    gens = out_dir / GENERATIONS
    if gens.is_dir():
        for gen in gens.iterdir():
            if current is None or gen.name != current.name:
                shutil.rmtree(gen, ignore_errors=True)
    keep = set(outputs)
    for link in _our_links(out_dir):
        rel = link.relative_to(out_dir).as_posix()
        if rel not in keep and not link.exists():  # dangling: an output no build has now
            link.unlink(missing_ok=True)
            _remove_empty_parents(link.parent, out_dir)


def _our_links(out_dir: Path) -> Iterator[Path]:
    """Symlinks under *out_dir* (not in hidden folders) pointing into ``.current``;
    temporary links never renamed into place are removed on the way."""
    for root, dirs, files in os.walk(out_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                continue
            if name.startswith(".") and ".link-" in name:
                path.unlink(missing_ok=True)
            elif CURRENT in Path(os.readlink(path)).parts:
                yield path


def _remove_empty_parents(folder: Path, out_dir: Path) -> None:
    while folder != out_dir and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


# -- commit -------------------------------------------------------------------------------------

def new_staging(out_dir: Path) -> Path:
    staging = out_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def carry_over(src: Path, dst: Path) -> None:
    """Put the previous generation's file *src* into the staging folder as *dst*
    (a hard link: generations are never modified in place; a copy if linking fails)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/file system allows it
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _ensure_link(out_dir: Path, rel: str) -> bool:
    """Make the user-facing path of *rel* the link into ``.current``; True if changed."""
    path = out_dir / rel
    target = _link_target(out_dir, rel)
    if path.is_symlink() and os.readlink(path) == target:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        raise PipelineError("commit", f"{path} is a folder; the build needs that path for "
                            "an output file: move the folder away")
    tmp = path.parent / f".{path.name}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(target, tmp)
    os.replace(tmp, path)  # a regular file left by an older minespace is replaced too
    return True


def commit(out_dir: Path, staging: Path, outputs: list[str], previous: list[str]) -> Path:
    """Make the complete build in *staging* the current one (see the module notes).

    *outputs* are the relative paths of every file in the new build (manifest
    included); *previous* those of the build it replaces. Returns the new
    generation folder.
    """
    _fsync_tree(staging)
    fault("commit:synced")
    gens = out_dir / GENERATIONS
    gens.mkdir(exist_ok=True)
    generation = gens / staging.name[len(STAGING_PREFIX):]
    os.replace(staging, generation)
    _fsync_dir(gens)
    fault("commit:renamed")
    for rel in outputs:  # new output paths: links that dangle until the switch
        if _ensure_link(out_dir, rel):
            fault(f"commit:link:{rel}")
    tmp = out_dir / f"{CURRENT}.{generation.name}"
    os.symlink(os.path.relpath(generation, out_dir), tmp)
    os.replace(tmp, out_dir / CURRENT)  # the commit
    _fsync_dir(out_dir)
    fault("commit:switched")
    for rel in sorted(set(previous) - set(outputs)):
        link = out_dir / rel
        if link.is_symlink():
            link.unlink()
            _remove_empty_parents(link.parent, out_dir)
            fault(f"commit:unlinked:{rel}")
    for gen in gens.iterdir():
        if gen.name != generation.name:
            shutil.rmtree(gen, ignore_errors=True)
    fault("commit:done")
    return generation
