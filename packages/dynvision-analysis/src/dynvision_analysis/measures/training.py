"""Training curves from the metrics table that Lightning's ``CSVLogger`` writes (``metrics.csv``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..tables import TableError, require_columns

__all__ = ["training_curves"]

_SUFFIXES = {"_step": "step", "_epoch": "epoch"}


def _parse(column: str) -> tuple[str, str, str | None]:
    """``"train/loss_step"`` → ("train", "loss", "step"); ``"val/acc_last"`` → ("val", "acc_last", None)."""
    stage, separator, name = column.partition("/")
    if not separator:
        stage, name = "", column
    for suffix, resolution in _SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return stage, name[: -len(suffix)], resolution
    return stage, name, None


def training_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """Reshape a NaN-sparse ``metrics.csv`` into one row per logged value.

    Lightning's CSVLogger writes one row per logging event with a column per metric, NaN where the metric was
    not logged, so train and validation values sit in different rows. Each metric column ``STAGE/NAME[_SUFFIX]``
    becomes rows with:

    * ``stage`` (``train``, ``val``, ...; empty for a column without ``/``) and ``metric`` (``NAME`` without
      the suffix, e.g. ``loss``, ``acc``, ``acc_last``);
    * ``resolution``: ``"step"`` for a ``_step`` suffix, ``"epoch"`` for ``_epoch``; without a suffix,
      ``"epoch"`` when the column has at most one value per epoch (e.g. ``val/loss``), else ``"step"``;
    * ``epochs``: training progress in epochs when the value was logged: ``epoch + 1`` for epoch values
      (they describe a completed epoch) and ``(step + 1) / S`` for step values, where
      S = (largest step + 1) / (largest epoch + 1) is the number of steps per epoch.

    Returns
    -------
    pandas.DataFrame
        Columns ``stage, metric, resolution, epoch, step, epochs, value``, sorted by stage, metric,
        resolution and step; values in the metric's own unit (loss in nats, accuracy as a fraction).
    """
    what = "training_curves"
    require_columns(metrics, ["epoch", "step"], what=what)
    columns = [
        str(name)
        for name in metrics.columns
        if name not in ("epoch", "step") and pd.api.types.is_numeric_dtype(metrics[name])
    ]
    if not columns:
        raise TableError(
            f"{what} found no metric columns besides epoch and step (numeric columns such as "
            f"'train/loss_epoch' or 'val/acc'); the table has {[str(name) for name in metrics.columns]}."
        )
    epoch = metrics["epoch"].to_numpy(dtype="float64")
    step = metrics["step"].to_numpy(dtype="float64")
    largest_epoch, largest_step = np.nanmax(epoch), np.nanmax(step)
    steps_per_epoch = (largest_step + 1) / (largest_epoch + 1) if largest_epoch >= 0 else np.nan
    frames = []
    for column in columns:
        logged = metrics[column].notna() & metrics["epoch"].notna() & metrics["step"].notna()
        if not logged.any():
            continue
        stage, metric, resolution = _parse(column)
        rows = metrics.loc[logged, ["epoch", "step", column]]
        if resolution is None:
            resolution = "epoch" if not rows["epoch"].duplicated().any() else "step"
        if resolution == "epoch" or not steps_per_epoch > 0:
            progress = rows["epoch"].to_numpy(dtype="float64") + 1
        else:
            progress = (rows["step"].to_numpy(dtype="float64") + 1) / steps_per_epoch
        frames.append(
            pd.DataFrame(
                {
                    "stage": stage,
                    "metric": metric,
                    "resolution": resolution,
                    "epoch": rows["epoch"].to_numpy(dtype="int64"),
                    "step": rows["step"].to_numpy(dtype="int64"),
                    "epochs": progress,
                    "value": rows[column].to_numpy(dtype="float64"),
                }
            )
        )
    if not frames:
        raise TableError(f"{what}: every metric column of the table is empty (all NaN); nothing was logged.")
    result = pd.concat(frames, ignore_index=True)
    return result.sort_values(["stage", "metric", "resolution", "step"], kind="stable").reset_index(drop=True)
