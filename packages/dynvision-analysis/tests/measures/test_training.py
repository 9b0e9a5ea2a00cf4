from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dynvision_analysis import TableError, training_curves


@pytest.fixture
def metrics() -> pd.DataFrame:
    """Two epochs of 4 steps: train values every 2 steps, epoch and validation values once per epoch."""
    nan = np.nan
    return pd.DataFrame(
        {
            "epoch": [0, 0, 0, 0, 1, 1, 1, 1],
            "step": [1, 3, 3, 3, 5, 7, 7, 7],
            "train/loss_step": [2.0, 1.5, nan, nan, 1.0, 0.8, nan, nan],
            "train/loss_epoch": [nan, nan, 1.7, nan, nan, nan, 0.9, nan],
            "val/loss": [nan, nan, nan, 1.6, nan, nan, nan, 1.1],
            "val/acc_last": [nan, nan, nan, 0.4, nan, nan, nan, 0.6],
        }
    )


def test_sparse_columns_become_tidy_rows(metrics):
    curves = training_curves(metrics)
    assert list(curves.columns) == ["stage", "metric", "resolution", "epoch", "step", "epochs", "value"]
    assert len(curves) == 4 + 2 + 2 + 2
    step = curves[(curves["metric"] == "loss") & (curves["resolution"] == "step")]
    assert list(step["stage"].unique()) == ["train"]
    assert list(step["value"]) == [2.0, 1.5, 1.0, 0.8]
    # 8 steps in 2 epochs: 4 steps per epoch; step 1 ends after 2/4 of the first epoch.
    assert list(step["epochs"]) == [0.5, 1.0, 1.5, 2.0]
    epoch = curves[(curves["stage"] == "train") & (curves["resolution"] == "epoch")]
    assert list(epoch["epochs"]) == [1.0, 2.0]
    val = curves[curves["stage"] == "val"]
    assert set(val["metric"]) == {"loss", "acc_last"}
    assert set(val["resolution"]) == {"epoch"}  # once per epoch, though without an _epoch suffix


def test_metrics_without_values_are_refused(metrics):
    with pytest.raises(TableError, match=r"training_curves needs the column\(s\) 'epoch'"):
        training_curves(metrics.drop(columns="epoch"))
    with pytest.raises(TableError, match="no metric columns"):
        training_curves(metrics[["epoch", "step"]])
