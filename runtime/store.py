"""The on-disk layout of everything stylize keeps: weights, ONNX graphs, engines, style vectors.

This is the only module that knows the layout. The root is, in order: an explicit
``--home``, the ``STYLIZE_HOME`` environment variable, or the platform's user cache folder
(``~/.cache/stylize`` on Linux)::

    ROOT/weights/NAME.safetensors      tensors (safetensors, numpy API: no torch needed)
    ROOT/weights/NAME.json             {name, layout, sha256, file_sha256, source, source_sha256, style, ...}
    ROOT/onnx/MODEL_ID/PRECISION/      exported graphs (style_encoder.onnx, stylizer.onnx), each
                                       with its digest GRAPH.onnx.sha256 (sha256sum's format)
    ROOT/engines/MODEL_ID/NAME.engine  TensorRT engines, each with its record NAME.json
    ROOT/engines/timing-NAME.cache     TensorRT timing caches (one per GPU and TensorRT version)
    ROOT/compiled/MODEL_ID/NAME.pt2    PyTorch engines compiled ahead of time (AOTInductor), per shape
    ROOT/compiled/inductor/            torch.compile's own caches (Inductor, Triton)
    ROOT/styles/MODEL_ID/IMAGE_SHA.npy             cached style vectors (MODEL_ID names the weights)
    ROOT/cluster/KEY/                  a conversion on a Ray cluster: its finished segments, kept
                                       until the output is joined (KEY: input, output, options)

Integrity (docs/architecture.md, "Digests"): weights are keyed by the SHA-256 of their
tensors (``sha256``: names, dtypes, shapes and bytes, so the same weights always get the same
key, whatever the file's header order); the file's own SHA-256 (``file_sha256``) is compared
with the bytes read on every load, and a graph's with its recorded digest. A damaged file is
refused in one line naming the command that writes it again. Cached style vectors are
checked when read (shape, dtype, finite) and encoded again when wrong. Folders and files are
made without write permission for group and others, whatever the umask.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import platformdirs
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save_file

from .errors import UserError
from .files import atomic_output

ENV_VAR = "STYLIZE_HOME"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".tflite")  # what `stylize weights import` reads
log = logging.getLogger(__name__)


def default_root() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()

    return Path(platformdirs.user_cache_dir("stylize", appauthor=False))


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_array(array: np.ndarray) -> str:
    """Hash of an image's pixels (shape and dtype included): the style cache key."""
    h = hashlib.sha256()
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def tensors_sha256(tensors: Mapping[str, np.ndarray]) -> str:
    """The weights' key: a hash of the tensors alone (each name, dtype, shape and bytes,
    little-endian, in name order; every field length-prefixed), so equal tensors give the
    same key whatever file they were written to or read from."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        head = json.dumps([name, a.dtype.str, list(a.shape)]).encode()
        h.update(len(head).to_bytes(8, "little") + head)
        h.update(a.nbytes.to_bytes(8, "little"))
        h.update(a.tobytes())
    return h.hexdigest()


_DIGESTS: dict[tuple[str, int, int, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """``sha256_file``, computed once per process for each version of a file (its device,
    inode, size, modification and change times: any write or replacement changes one)."""

    def key() -> tuple[str, int, int, int, int, int]:
        s = os.stat(path)
        return (os.fspath(path), s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)

    before = key()
    digest = _DIGESTS.get(before)
    if digest is None:
        digest = sha256_file(path)
        if key() == before:  # unchanged while it was read
            _DIGESTS[before] = digest
    return digest


def make_folder(path: str | os.PathLike[str]) -> Path:
    """Create a folder and its missing parents without write permission for group and
    others, whatever the umask (mkdir's mode is masked by the umask, never widened); a file
    in the way, or a folder that cannot be made, is a UserError naming it."""
    path = Path(path)
    missing = []
    p = path
    while not p.is_dir():
        if p.exists() or p.is_symlink():
            raise UserError(f"{p} is a file where stylize keeps a folder: move it away")
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            if not d.is_dir():
                raise UserError(f"{d} is a file where stylize keeps a folder: move it away") from None
            continue  # made by another process meanwhile
        except OSError as e:
            raise UserError(f"cannot create the folder {d}: {e.strerror or e}") from None
        mode = stat.S_IMODE(os.stat(d).st_mode)
        if mode & 0o022:  # a default ACL can widen what the umask would not
            os.chmod(d, mode & ~0o022)
    return path


# exported graphs' digests ----------------------------------------------------------
def graph_digest_path(graph: str | os.PathLike[str]) -> Path:
    """The digest ``stylize export`` writes beside a graph: ``GRAPH.onnx.sha256``, in the
    format of ``sha256sum`` (so ``sha256sum -c`` checks it too)."""
    graph = Path(graph)
    return graph.with_name(graph.name + ".sha256")


def record_graph_digest(graph: str | os.PathLike[str], digest: str | None = None) -> Path:
    """Write a graph's digest beside it (``digest``: already computed from its bytes)."""
    graph = Path(graph)
    digest = digest or sha256_file(graph)
    path = graph_digest_path(graph)
    with atomic_output(path, group_write=False) as tmp:
        tmp.write_text(f"{digest}  {graph.name}\n")
    return path


def check_graph(graph: str | os.PathLike[str], repair: str, *, required: bool) -> str:
    """A graph's SHA-256, once compared with the digest recorded beside it: UserError naming
    the graph and ``repair`` (the command that writes it again) where they differ, where
    the record is unreadable, or where ``required`` (the store's graphs) and there is none."""
    graph = Path(graph)
    record = graph_digest_path(graph)
    try:
        fields = record.read_text().split()
    except FileNotFoundError:
        if required:
            raise UserError(f"{graph} has no recorded digest ({record.name} is missing); run `{repair}`") from None
        return file_sha256(graph)
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"the digest {record} cannot be read ({e}); run `{repair}`") from None
    recorded = fields[0].lower() if fields else ""
    if not _SHA_RE.match(recorded):
        raise UserError(f"the digest {record} is damaged; run `{repair}`")
    digest = file_sha256(graph)
    if digest != recorded:
        raise UserError(f"{graph} is damaged or replaced: its SHA-256 is not the one recorded when it was exported; run `{repair}`")
    return digest


@dataclass(frozen=True)
class WeightsRecord:
    """What the store knows of one weights file. ``sha256``: the tensors' digest
    (``tensors_sha256``), the key every model id, cached style and exported graph derives
    from; ``file_sha256``: the safetensors file's own digest, compared on every load."""

    name: str
    layout: str
    sha256: str
    path: Path
    source: str = ""
    source_sha256: str = ""
    created: float = 0.0
    file_sha256: str = ""
    style: str = ""  # a per-style network (johnson): the style image it paints, by name ...
    style_sha256: str = ""  # ... and by the SHA-256 of its file

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["path"] = self.path.name
        return d

    @property
    def repair(self) -> str:
        """The command that writes these weights again."""
        source = self.source if Path(self.source).suffix.lower() in WEIGHT_SUFFIXES else "FILE"
        name = "" if self.name == self.layout.replace("_", "-") else f" --name {self.name}"  # the import's default name
        return f"stylize weights import {source}{name}"


class Store:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_root()

    # folders -----------------------------------------------------------------------
    def _dir(self, *parts: str) -> Path:
        return make_folder(self.root.joinpath(*parts))

    @property
    def weights_dir(self) -> Path:
        return self._dir("weights")

    @property
    def onnx_dir(self) -> Path:
        return self._dir("onnx")

    def graph_folder(self, model_id: str, precision: str = "fp32") -> Path:
        """Where ``stylize export`` puts a model's two ONNX graphs."""
        return self.root / "onnx" / model_id / precision

    @property
    def engines_dir(self) -> Path:
        return self._dir("engines")

    def engine_folder(self, model_id: str) -> Path:
        """Where the TensorRT engines of a model's graphs are kept (not created here)."""
        return self.root / "engines" / model_id

    def engine_path(self, model_id: str, name: str) -> Path:
        return self.engine_folder(model_id) / f"{name}.engine"

    def engine_paths(self, model_id: str) -> list[Path]:
        """Every engine kept for ``model_id`` (any graph, GPU, TensorRT version or profile)."""
        folder = self.engine_folder(model_id)
        return sorted(folder.glob("*.engine")) if folder.is_dir() else []

    @staticmethod
    def engine_record_path(engine: Path) -> Path:
        """The JSON record beside an engine: what it was built from, for and with."""
        return engine.with_suffix(".json")

    def timing_cache_path(self, name: str) -> Path:
        return self.engines_dir / f"timing-{name}.cache"

    def compiled_path(self, model_id: str, name: str) -> Path:
        """A compiled PyTorch stylizer (AOTInductor package) of a model's weights (folder not created here)."""
        return self.root / "compiled" / model_id / f"{name}.pt2"

    @property
    def inductor_cache_dir(self) -> Path:
        """Where torch.compile keeps its Inductor and Triton caches, so a new process reuses them."""
        return self._dir("compiled", "inductor")

    def cluster_folder(self, key: str) -> Path:
        """The work folder of one input converted on a Ray cluster (``stylize.cluster``): the
        segments finished so far, so a run interrupted and started again resumes (made here)."""
        if not _SHA_RE.match(key):
            raise ValueError(f"a cluster work key is a SHA-256 in hex, got {key!r}")
        return self._dir("cluster", key)

    # weights -----------------------------------------------------------------------
    @staticmethod
    def check_name(name: str) -> str:
        if not _NAME_RE.match(name):
            raise UserError(f"invalid weights name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
        return name

    def put_weights(
        self,
        name: str,
        tensors: dict[str, np.ndarray],
        *,
        layout: str,
        source: str = "",
        source_sha256: str = "",
        style: str = "",
        style_sha256: str = "",
    ) -> WeightsRecord:
        """Write tensors as float32 safetensors and their record (layout, the tensors' digest,
        the file's digest; for a per-style network the style image's name and digest), each
        atomically: a damaged file of the same name is replaced."""
        self.check_name(name)
        target = self.weights_dir / f"{name}.safetensors"
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
        try:
            with atomic_output(target, group_write=False) as tmp:
                save_file(arrays, str(tmp), metadata={"layout": layout, "name": name})
                file_digest = sha256_file(tmp)
        except OSError as e:
            raise UserError(f"cannot write {target}: {e.strerror or e}") from None
        record = WeightsRecord(
            name=name,
            layout=layout,
            sha256=tensors_sha256(arrays),
            path=target,
            source=source,
            source_sha256=source_sha256,
            created=time.time(),
            file_sha256=file_digest,
            style=style,
            style_sha256=style_sha256,
        )
        self._write_record(record)
        return record

    def _write_record(self, record: WeightsRecord) -> None:
        meta = self.weights_dir / f"{record.name}.json"
        try:
            with atomic_output(meta, group_write=False) as tmp:
                tmp.write_text(json.dumps(record.to_json(), indent=2))
        except OSError as e:
            raise UserError(f"cannot write {meta}: {e.strerror or e}") from None

    def weights(self, name: str) -> WeightsRecord | None:
        """The record of weights ``name`` (None where not installed); UserError where it is
        damaged. A record of an earlier version, keyed by the file's digest, is checked
        against its file and keyed by the tensors' digest from then on."""
        folder = self.root / "weights"
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder} is a file where the store keeps its weights: move it away, then import the weights again")
        meta = folder / f"{name}.json"
        data_file = folder / f"{name}.safetensors"
        if not (meta.is_file() and data_file.is_file()):
            return None
        try:
            d = json.loads(meta.read_text())
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            record = WeightsRecord(
                name=str(d["name"]),
                layout=str(d["layout"]),
                sha256=str(d["sha256"]),
                path=data_file,
                source=str(d.get("source", "")),
                source_sha256=str(d.get("source_sha256", "")),
                created=float(d.get("created", 0.0)),
                file_sha256=str(d.get("file_sha256", "")),
                style=str(d.get("style", "")),
                style_sha256=str(d.get("style_sha256", "")),
            )
            if not _SHA_RE.match(record.sha256) or not (record.file_sha256 == "" or _SHA_RE.match(record.file_sha256)):
                raise ValueError("a digest is not a SHA-256")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"the store's record {meta} is damaged ({e}); import the weights again: `stylize weights import FILE`") from None
        if not record.file_sha256:
            record = self._rekey(record)
        return record

    def _rekey(self, record: WeightsRecord) -> WeightsRecord:
        """A record of an earlier version (``sha256`` the file's digest): the file checked
        against it, the tensors' digest computed, the record rewritten where it can be."""
        data = self._read_checked(record, record.sha256)
        rekeyed = replace(record, sha256=tensors_sha256(self._parse(record, data)), file_sha256=record.sha256)
        try:
            self._write_record(rekeyed)
        except UserError:
            pass  # a read-only store: the digest is computed again next time
        log.info(
            "weights %s: keyed by their tensors' digest from now on; graphs exported by earlier versions are not "
            "found again (`stylize export` writes them again)",
            record.name,
        )
        return rekeyed

    @staticmethod
    def _read_checked(record: WeightsRecord, file_sha256: str) -> bytes:
        try:
            data = record.path.read_bytes()
        except OSError as e:
            raise UserError(f"cannot read the weights file {record.path}: {e.strerror or e}") from None
        if hashlib.sha256(data).hexdigest() != file_sha256:
            raise UserError(
                f"weights file {record.path} is damaged: its SHA-256 is not the one recorded at import; run `{record.repair}`"
            )
        return data

    @staticmethod
    def _parse(record: WeightsRecord, data: bytes) -> dict[str, np.ndarray]:
        try:
            return load_safetensors(data)
        except Exception as e:  # safetensors raises its own error types for damaged files
            raise UserError(f"weights file {record.path} is damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__}); run `{record.repair}`") from None

    def list_weights(self) -> list[WeightsRecord]:
        folder = self.root / "weights"
        if not folder.is_dir():
            return []
        records = [self.weights(p.stem) for p in sorted(folder.glob("*.json"))]
        return [r for r in records if r is not None]

    def load_weights(self, name: str) -> tuple[WeightsRecord, dict[str, np.ndarray]]:
        record = self.weights(name)
        if record is None:
            raise UserError(f"weights {name!r} are not in the store ({self.root})")
        return record, self._parse(record, self._read_checked(record, record.file_sha256))

    # style vectors -----------------------------------------------------------------
    def style_vector_path(self, model_id: str, image_sha256: str) -> Path:
        return self.root / "styles" / model_id / f"{image_sha256}.npy"

    def load_style_vector(self, model_id: str, image_sha256: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """A cached style vector, or None where there is none or it is unusable: unreadable,
        not float32, not of ``shape`` (the family's), or not finite. The caller encodes the
        style again and overwrites it: a damaged entry is never trusted."""
        path = self.style_vector_path(model_id, image_sha256)
        if not path.is_file():
            return None
        try:
            vector = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            why = f"unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        else:
            if not isinstance(vector, np.ndarray):
                why = "not an array"
            elif vector.dtype != np.float32:
                why = f"of type {vector.dtype}, not float32"
            elif shape is not None and vector.shape != tuple(shape):
                why = f"of shape {vector.shape}, not {tuple(shape)}"
            elif not np.isfinite(vector).all():
                why = "not finite"
            else:
                return vector
        log.info("cached style vector %s is %s; encoding the style again", path, why)
        return None

    def save_style_vector(self, model_id: str, image_sha256: str, vector: np.ndarray) -> Path:
        """Cache a style vector (atomically); OSError or UserError where the store cannot
        keep it (the caller goes on without the cache)."""
        path = self.style_vector_path(model_id, image_sha256)
        make_folder(path.parent)
        with atomic_output(path, group_write=False) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(vector, dtype=np.float32), allow_pickle=False)
        return path
