"""Test step: show every test image under a paradigm and record, per time step, the model's guess and each area's
activity.

Outputs (both written atomically):

``test_outputs.csv``, one row per (sample, time step):
    ``sample`` index of the image in the test set (dataset order), ``step`` (0-based), ``time_ms`` (step x dt),
    ``label`` the image's true class index (at every step), ``guess`` the arg-max class, ``correct`` (0/1),
    ``confidence`` softmax probability of the guess, ``label_rank`` the 0-based rank of the true class among all
    classes by classifier output (0 when the guess is right; top-k correct is ``label_rank < k``), ``stimulus``
    (0/1) whether the stimulus is on screen (:data:`~.tables.OUTPUT_COLUMNS`); then the paradigm, constant within
    the file (:func:`~.tables.paradigm_columns`): ``paradigm`` its registered name and one column per parameter
    (defaults included) and per common option that differs from its default, named as in test folder names
    (short aliases such as ``noisetype``; ``paradigm_stimulus`` for the stimulus duration in steps, beside the 0/1
    ``stimulus``).

``test_responses.safetensors``: at ``layer`` resolution, for each area ``<area>.mean`` and ``<area>.std``, float32
    ``(n_samples, n_steps)``: mean and standard deviation of the area's activity over its units (channels x space);
    at ``unit`` resolution, for each area ``<area>``, float16 ``(n_samples, n_steps, C, H, W)``: every unit's rate.
    Also ``sample``, ``time_ms``, ``stimulus``; metadata: areas in order, resolution, dt (ms), paradigm, model,
    n_samples. The file is streamed to disk batch by batch (:class:`~.responses.SafetensorsStream`), so memory stays
    bounded by one batch whatever the test set's size.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ..options import TestSettings
from .provenance import atomic_path, write_resolved_config
from .responses import SafetensorsStream
from .states import ModelState, build_model, check_identity, load_state
from .train import image_resolution_for, make_paradigm, resolution_sources

__all__ = ["TestSettings", "apply_model_overrides", "check_paradigm_fits", "make_paradigm", "test_model"]

log = logging.getLogger(__name__)


def test_model(
    state_path: str | os.PathLike[str],
    *,
    dataset: str | os.PathLike[str],
    outputs: str | os.PathLike[str],
    responses: str | os.PathLike[str],
    settings: TestSettings,
    given: set[str] | None = None,
    data_name: str | None = None,
    model_name: str | None = None,
    model_args: str | None = None,
    seed: str | None = None,
) -> dict[str, Any]:
    """Test the model in ``state_path`` on the class folders ``dataset``; return a summary (accuracy per step).

    Before anything is written, the state is checked against the model it is used as (``model_name``,
    ``model_args``, ``seed``: its path's identity, each checked when given) and against the test data (the classes
    of ``dataset`` must be among the state's, and its images must have the state's input shape); a mismatch raises
    :class:`~.states.StateError` naming both identities.
    """
    import numpy as np
    import pandas as pd
    import torch

    from dynvision_data import Stats, make_eval_loader

    from .init import used_as
    from .progress import CountProgress, quiet_library_noise
    from .tables import OUTPUT_COLUMNS, paradigm_columns

    quiet_library_noise()
    torch.set_num_threads(settings.threads)
    state = load_state(state_path, target=outputs)
    resolution = image_resolution_for(settings.image_resolution, state, step="test")
    expected = used_as(
        model_name, model_args, seed, dataset=dataset, state=state, resolution=resolution,
        given_resolution=settings.image_resolution,
    )
    check_identity(state, state_path, expected, target=outputs)
    state = apply_model_overrides(state, settings.model_overrides)
    model = build_model(state).eval()
    paradigm = make_paradigm(settings.paradigm)
    # Before any output is opened: a paradigm the model cannot run leaves nothing behind.
    check_paradigm_fits(paradigm, model, spec=settings.paradigm, model_name=state.model_name)
    constants = paradigm_columns(paradigm)
    loader = make_eval_loader(
        dataset,
        classes=state.data["classes"],
        stats=Stats(tuple(state.data["mean"]), tuple(state.data["std"]), int(state.data.get("count", 0))),
        batch_size=settings.batch_size,
        limit=settings.limit_images,
        resolution=resolution,
    )
    if settings.limit_images is not None:
        log.warning("testing only the first %d images of %s (limit_images)", settings.limit_images, dataset)
    dt = _step_duration_ms(model)
    n_total = loader.n_samples
    metadata = {
        "resolution": settings.response_resolution,
        "dt": dt,
        "paradigm": settings.paradigm,
        "model_name": state.model_name,
        "n_samples": n_total,
    }
    n_seen, correct_per_step = 0, None
    progress = CountProgress(n_total, label="test")  # a line in the log at each 10% of the images
    stimulus = time_ms = None
    stream: SafetensorsStream | None = None
    with (
        atomic_path(outputs) as table_file,
        table_file.open("w") as handle,
        atomic_path(responses) as responses_file,
        torch.inference_mode(),
    ):
        try:
            for images, labels in loader:
                frames, _, on = paradigm(images, labels, lazy=True)  # a timeline where there are blanks
                logits, activity = model.forward_intermediates(frames)
                batch, steps = logits.shape[:2]
                probabilities = logits.float().softmax(dim=-1)
                confidence, guess = probabilities.max(dim=-1)
                if stream is None:
                    stimulus = on.to(torch.uint8).cpu().numpy()
                    time_ms = (np.arange(steps, dtype=np.float32) * dt).astype(np.float32)
                    correct_per_step = np.zeros(steps, dtype=np.int64)
                    metadata["areas"] = list(activity)
                    stream = _open_stream(responses_file, activity, n_total, steps, settings.response_resolution, metadata)
                    stream.write("time_ms", 0, time_ms)
                    stream.write("stimulus", 0, stimulus)
                truth = labels.view(-1, 1).expand(batch, steps)
                # Rank of the true class by classifier output (0 = the guess is right; ties favour the label), so
                # top-k accuracy is label_rank < k without storing every logit.
                label_rank = (logits > logits.gather(-1, truth.unsqueeze(-1))).sum(dim=-1)
                correct = (guess == truth).cpu().numpy()
                correct_per_step += correct.sum(axis=0)
                table = pd.DataFrame(
                    {
                        "sample": np.repeat(np.arange(n_seen, n_seen + batch), steps),
                        "step": np.tile(np.arange(steps), batch),
                        "time_ms": np.tile(time_ms, batch),
                        "label": truth.reshape(-1).cpu().numpy(),
                        "guess": guess.reshape(-1).cpu().numpy(),
                        "correct": correct.reshape(-1).astype(np.int8),
                        "confidence": confidence.reshape(-1).cpu().numpy(),
                        "label_rank": label_rank.reshape(-1).to(torch.int32).cpu().numpy(),
                        "stimulus": np.tile(stimulus, batch),
                    },
                    columns=OUTPUT_COLUMNS,
                )
                for column, value in constants.items():
                    table[column] = value
                table.to_csv(handle, header=n_seen == 0, index=False, float_format="%.6g")
                stream.write("sample", n_seen, np.arange(n_seen, n_seen + batch, dtype=np.int64))
                for area, rates in activity.items():
                    if settings.response_resolution == "unit":
                        stream.write(area, n_seen, rates.to(torch.float16).cpu().numpy())
                    else:
                        flat = rates.float().flatten(start_dim=2)
                        stream.write(f"{area}.mean", n_seen, flat.mean(dim=2).cpu().numpy())
                        stream.write(f"{area}.std", n_seen, flat.std(dim=2, correction=0).cpu().numpy())
                n_seen += batch
                progress.update(n_seen)
        except BaseException:
            if stream is not None:
                stream.abort()
            raise
        if stream is None:
            raise ValueError(f"the test set {str(dataset)!r} has no images; nothing was tested.")
        stream.close()
    accuracy = (correct_per_step / n_seen).tolist()
    on_steps = [step for step, value in enumerate(stimulus) if value]
    summary = {
        "n_samples": n_seen,
        "accuracy_per_step": accuracy,
        "accuracy_end_of_stimulus": accuracy[on_steps[-1]] if on_steps else None,
    }
    log.info("tested %d images; accuracy at the end of the stimulus: %s", n_seen, summary["accuracy_end_of_stimulus"])
    write_resolved_config(
        outputs,
        command="dynvision test",
        parameters={
            "model_name": state.model_name,
            "model_kwargs": state.model_kwargs,
            **asdict(settings),
            "image_resolution": resolution,
        },
        sources=resolution_sources(settings.sources(given or set(), data_name=data_name), settings.image_resolution, resolution),
        seed=state.meta.get("seed"),
        inputs={"state": str(state_path), "dataset": str(dataset)},
    )
    return summary


def check_paradigm_fits(paradigm: Any, model: Any, *, spec: str, model_name: str = "") -> None:
    """Raise ``ValueError`` if ``model`` cannot run all the steps of ``paradigm`` (its spec ``spec``).

    The temporal models of dynvision-models unroll any number of steps: a ``(B, T, C, H, W)`` input sets ``T`` and
    ``n_timesteps`` is only how long a static image is shown (the workflow tests 20- to 42-step paradigms on
    models built with the default ``n_timesteps=10``). So a paradigm longer than ``n_timesteps`` is run, not
    refused. A model whose step count is bounded (e.g. learnt per-step or positional parameters) declares the
    bound as ``max_timesteps``; the paradigm must then fit it (:meth:`~dynvision_data.Paradigm.check_fits`), and
    the error names the paradigm, its step count, the model's ``n_timesteps`` and the way out.
    """
    limit = getattr(model, "max_timesteps", None)
    if limit is None:
        return
    try:
        paradigm.check_fits(int(limit))
    except ValueError as error:
        built = getattr(model, "n_timesteps", None)
        name = model_name or type(model).__name__
        raise ValueError(
            f"test paradigm {spec!r} ({paradigm.name}) needs {paradigm.n_timesteps} time steps, but model {name} "
            f"(n_timesteps={built}) runs at most {limit} steps; nothing was written. Shorten the paradigm's phases "
            f"to at most {limit} steps in all, or build the model with more steps (model argument "
            f"tsteps={paradigm.n_timesteps}, i.e. n_timesteps). ({error})"
        ) from None


def apply_model_overrides(state: ModelState, overrides: Mapping[str, Any] | str | None) -> ModelState:
    """The state with model keyword arguments replaced for a test (``{"ffonly": True}``, or ``':ffonly=true'`` as in
    a path); weights are unchanged, so an override must not change the model's parameters (feed-forward only, idle
    steps, time steps...)."""
    from dataclasses import replace

    from ..naming import expand_aliases, parse_args

    given = parse_args(overrides) if isinstance(overrides, str) else dict(overrides or {})
    changes = expand_aliases(given)
    if not changes:
        return state
    log.info("testing with model arguments changed: %s", changes)
    return replace(state, model_kwargs={**state.model_kwargs, **changes})


def _step_duration_ms(model: Any) -> float:
    """Duration of one model step in ms: the model's ``dt``; models without dynamics (e.g. ResNets) count 1 ms a step."""
    dt = getattr(model, "dt", None)
    if dt is None:
        log.warning("%s has no dt (no temporal dynamics); time_ms counts steps (1 ms per step)", type(model).__name__)
        return 1.0
    return float(dt)


def _open_stream(
    path: Any, activity: dict[str, Any], n_samples: int, n_steps: int, resolution: str, metadata: dict[str, Any]
) -> SafetensorsStream:
    """The responses file for ``n_samples`` images of ``n_steps`` steps, with every tensor's final shape."""
    import numpy as np

    tensors: dict[str, tuple[Any, tuple[int, ...]]] = {
        "sample": (np.int64, (n_samples,)),
        "time_ms": (np.float32, (n_steps,)),
        "stimulus": (np.uint8, (n_steps,)),
    }
    for area, rates in activity.items():
        if resolution == "unit":
            # float16 halves the size of full tensors; rates are >= 0 and well inside its range.
            tensors[area] = (np.float16, (n_samples, n_steps, *rates.shape[2:]))
        else:
            tensors[f"{area}.mean"] = (np.float32, (n_samples, n_steps))
            tensors[f"{area}.std"] = (np.float32, (n_samples, n_steps))
    return SafetensorsStream(path, tensors, {key: json.dumps(value) for key, value in metadata.items()})
