"""Task lists for the study server: read ``study pairs`` / ``bench`` ``pairs.csv`` and find the images.

A task list has one row per 2AFC task with at least ``image_id,method_a,method_b`` (extra columns such
as ``rater_id`` and ``choice`` are ignored) and optionally ``is_sentinel`` (0/1) and ``correct`` (the
method a sentinel's rater must pick). The image of method M on image I is looked up under the images
folder as ``M/I``, then ``M/I`` with its extension replaced by (or extended with) ``.png``, ``.jpg``,
``.jpeg``, ``.webp`` -- so ``bench``'s ``outputs/<method>/<subset>/<stem>.png`` folder serves its
``pairs.csv`` (image ids ``<subset>/<name>``) directly. Sentinel rows need ``real/I`` and
``sentinel_retouch/I`` (or whichever two names the row gives).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..benchmark.userstudy import TRUE_WORDS
from ..errors import InputError
from .scheduler import TaskArrays

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class TaskList:
    """A validated task list (:func:`read_tasks`).

    Attributes
    ----------
    frame : pandas.DataFrame
        ``task_id``, ``image_id``, ``method_a``, ``method_b``, ``is_sentinel`` (bool), ``correct``.
    arrays : TaskArrays
        The same as integer codes, for the scheduler.
    study_id : str
        sha256 of the normalised task list: names the study in the database.
    source : str
        The file read.
    """

    frame: pd.DataFrame
    arrays: TaskArrays
    study_id: str
    source: str

    @property
    def methods(self) -> list[str]:
        """The methods of the task list, sorted (the scheduler's method codes).

        Returns
        -------
        list of str
        """
        return self.arrays.methods


def read_tasks(path: str | os.PathLike) -> TaskList:
    """Read and validate a task list (``harmony study pairs`` output or ``bench``'s ``pairs.csv``).

    Parameters
    ----------
    path : str or os.PathLike
        CSV with ``image_id,method_a,method_b[,is_sentinel,correct]`` (other columns ignored).

    Returns
    -------
    TaskList

    Raises
    ------
    InputError
        One line naming the file and field: missing file or columns, non-UTF-8 text, no rows, an empty
        id, a method compared with itself, a sentinel without ``correct``, or only sentinel tasks.
    """
    name = str(path)
    if not os.path.isfile(path):
        raise InputError(f"{name}: task list not found (expected a CSV from `harmony study pairs`)")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{name}: not a task-list CSV ({str(exc).splitlines()[0] or 'empty'})") from None
    df.columns = [str(c).strip().lstrip("\ufeff").lower() for c in df.columns]
    missing = [c for c in ("image_id", "method_a", "method_b") if c not in df.columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {', '.join(missing)} (expected image_id,method_a,method_b"
                         f"[,is_sentinel,correct] as `harmony study pairs` writes)")
    if len(df) == 0:
        raise InputError(f"{name}: no tasks (header only)")
    for col in ("image_id", "method_a", "method_b"):
        df[col] = df[col].str.strip()
        empty = np.flatnonzero(df[col].to_numpy() == "")
        if empty.size:
            raise InputError(f"{name}: empty {col} at line {empty[0] + 2}")
    same = np.flatnonzero(df["method_a"].to_numpy() == df["method_b"].to_numpy())
    if same.size:
        raise InputError(f"{name}: method_a equals method_b at line {same[0] + 2}")
    sent = (df["is_sentinel"].str.strip().str.lower().isin(TRUE_WORDS).to_numpy() if "is_sentinel" in df
            else np.zeros(len(df), bool))
    correct = df["correct"].str.strip() if "correct" in df else pd.Series([""] * len(df))
    for k in np.flatnonzero(sent):
        if correct.iat[k] not in (df["method_a"].iat[k], df["method_b"].iat[k]):
            raise InputError(f"{name}: sentinel at line {k + 2} needs `correct` = method_a or method_b "
                             f"(got {correct.iat[k]!r})")
    if sent.all():
        raise InputError(f"{name}: only sentinel tasks; a study needs regular method pairs")
    frame = pd.DataFrame({"task_id": np.arange(len(df)), "image_id": df["image_id"].to_numpy(),
                          "method_a": df["method_a"].to_numpy(), "method_b": df["method_b"].to_numpy(),
                          "is_sentinel": sent, "correct": np.where(sent, correct.to_numpy(), "")})
    methods = sorted(set(frame["method_a"]) | set(frame["method_b"]))
    code = {m: i for i, m in enumerate(methods)}
    images = sorted(set(frame["image_id"]))
    icode = {im: i for i, im in enumerate(images)}
    arrays = TaskArrays(image=frame["image_id"].map(icode).to_numpy(np.int64),
                        a=frame["method_a"].map(code).to_numpy(np.int64),
                        b=frame["method_b"].map(code).to_numpy(np.int64),
                        sentinel=sent.copy(), methods=methods)
    h = hashlib.sha256()
    for r in frame.itertuples(index=False):
        h.update(f"{r.image_id}\x1f{r.method_a}\x1f{r.method_b}\x1f{int(r.is_sentinel)}\x1f{r.correct}\x1e".encode())
    return TaskList(frame=frame, arrays=arrays, study_id=h.hexdigest(), source=name)


def _candidates(root: Path, method: str, image_id: str):
    base = root / method / image_id
    yield base
    stem = base.with_suffix("") if base.suffix else base
    for ext in IMAGE_EXTS:
        yield stem.with_name(stem.name + ext)
        yield base.with_name(base.name + ext)


def resolve_images(tasks: TaskList, images_dir: str | os.PathLike) -> dict[tuple[str, str], Path]:
    """Map every (method, image_id) of the task list to a file inside ``images_dir``.

    The image of method M on image I is ``M/I``, or ``M/I`` with its extension replaced by or extended
    with ``.png``, ``.jpg``, ``.jpeg``, ``.webp``.

    Parameters
    ----------
    tasks : TaskList
    images_dir : str or os.PathLike
        The images folder.

    Returns
    -------
    dict of (str, str) to pathlib.Path
        Resolved paths, all inside ``images_dir``.

    Raises
    ------
    InputError
        One line (how many are missing, the first one, where it was looked for) when any image is
        missing or a name would leave the folder (``..``, absolute paths, links pointing outside).
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise InputError(f"--images: {images_dir} is not a folder")
    root = root.resolve()
    needed = set(zip(tasks.frame["method_a"], tasks.frame["image_id"])) | set(
        zip(tasks.frame["method_b"], tasks.frame["image_id"]))
    found: dict[tuple[str, str], Path] = {}
    missing = []
    for method, image_id in sorted(needed):
        hit = None
        if not (os.path.isabs(image_id) or os.path.isabs(method) or ".." in Path(image_id).parts
                or ".." in Path(method).parts):
            for cand in _candidates(root, method, image_id):
                if cand.is_file():
                    real = cand.resolve()
                    if real.is_relative_to(root):
                        hit = real
                        break
        if hit is None:
            missing.append((method, image_id))
        else:
            found[(method, image_id)] = hit
    if missing:
        m, i = missing[0]
        raise InputError(f"{tasks.source}: {len(missing)} of {len(needed)} images missing under {images_dir}; "
                         f"first: {m}/{i} (looked for {m}/{i} and {m}/{Path(i).stem}"
                         f"{{{','.join(IMAGE_EXTS)}}})")
    return found
