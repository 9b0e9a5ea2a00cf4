"""Test step: show every test image under a paradigm and record, per time step, the model's guess and each area's
activity.

Outputs (both written atomically):

``test_outputs.csv``, one row per (sample, time step):
    ``sample`` index of the image in the test set (dataset order), ``step`` (0-based), ``time_ms`` (step x dt),
    ``label`` the image's true class index (at every step), ``guess`` the arg-max class, ``correct`` (0/1),
    ``confidence`` softmax probability of the guess, ``label_rank`` the 0-based rank of the true class among all
    classes by classifier output (0 when the guess is right; top-k correct is ``label_rank < k``), ``stimulus``
    (0/1) whether the stimulus is on screen, ``reaction_time_ms`` the image's reaction time at the confidence
    threshold ``test.reaction_threshold`` (ms from the stimulus onset to the first step whose confidence reaches it;
    empty when none does) (:data:`~.tables.OUTPUT_COLUMNS`, :data:`~.tables.OPTIONAL_OUTPUT_COLUMNS`); then the
    paradigm, constant within the file (:func:`~.tables.paradigm_columns`): ``paradigm`` its registered name and one
    column per parameter (defaults included) and per common option that differs from its default, named as in test
    folder names
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

import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..options import TestSettings
from .provenance import atomic_path, write_resolved_config
from .responses import SafetensorsStream
from .states import ModelState, build_model, check_identity, load_state
from .train import dtype_policy, image_resolution_for, make_paradigm, resolution_sources

__all__ = [
    "TestCondition",
    "TestSettings",
    "apply_model_overrides",
    "check_paradigm_fits",
    "eval_loader",
    "make_paradigm",
    "test_conditions",
    "test_model",
    "test_parameters",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TestCondition:
    """One condition of a test: its settings (paradigm and model overrides included) and the files of its results.

    Attributes:
        settings: the test options of this condition (:class:`TestSettings`).
        outputs: the outputs table (``test_outputs.csv``).
        responses: the responses file (``test_responses.safetensors``).
        table: the tidy responses table (``test_responses.csv``, what ``dynvision process-test`` writes), written
            beside the responses when given.
        given: option names given for this condition (their sources are recorded as given, not defaults).
    """

    settings: TestSettings
    outputs: Path
    responses: Path
    table: Path | None = None
    given: frozenset[str] = frozenset()


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
    condition = TestCondition(settings, Path(outputs), Path(responses), given=frozenset(given or ()))
    return test_conditions(
        state_path,
        dataset=dataset,
        conditions=[condition],
        data_name=data_name,
        model_name=model_name,
        model_args=model_args,
        seed=seed,
    )[0]


def test_conditions(
    state_path: str | os.PathLike[str],
    *,
    dataset: str | os.PathLike[str],
    conditions: Sequence[TestCondition],
    data_name: str | None = None,
    model_name: str | None = None,
    model_args: str | None = None,
    seed: str | None = None,
    reuse: bool = False,
) -> list[dict[str, Any] | None]:
    """Test the model in ``state_path`` under several conditions in one pass over the test images: the state is
    loaded and checked once, each image batch is decoded once and shown under every condition in turn, and every
    condition writes the files it would write alone, bit for bit (:func:`test_model` is this with one condition).

    The conditions share the loader's options (``batch_size``, ``limit_images``, ``image_resolution``,
    ``threads``: those of the first condition; each condition's must agree) and differ in their paradigm and model
    overrides. Return one summary per condition.

    With ``reuse``, a condition whose files are all there, newer than the state, and whose provenance records the
    same parameters, inputs and package versions as this test would (:func:`reusable`) is not tested again (its
    summary is ``None``): a condition added to a finished experiment costs that condition alone.
    """
    import torch

    from .init import used_as
    from .progress import CountProgress, quiet_library_noise

    if not conditions:
        raise ValueError("test_conditions needs at least one condition.")
    first = conditions[0].settings
    _check_shared_loader(conditions)
    quiet_library_noise()
    torch.set_num_threads(first.threads)
    target = conditions[0].outputs
    state = load_state(state_path, target=target)
    resolution = image_resolution_for(first.image_resolution, state, step="test")
    expected = used_as(
        model_name, model_args, seed, dataset=dataset, state=state, resolution=resolution,
        given_resolution=first.image_resolution,
    )
    check_identity(state, state_path, expected, target=target)
    models: dict[str, Any] = {}
    runs = []
    for condition in conditions:
        settings = condition.settings
        changed = apply_model_overrides(state, settings.model_overrides)
        key = json.dumps(changed.model_kwargs, sort_keys=True, default=str)
        if key not in models:  # one model per distinct set of overrides
            models[key] = (changed, build_model(changed).eval())
        condition_state, model = models[key]
        if reuse and reusable(condition, test_parameters(condition_state, settings, resolution), state_path, dataset):
            continue
        paradigm = make_paradigm(settings.paradigm)
        # Before any output is opened: a paradigm the model cannot run leaves nothing behind.
        check_paradigm_fits(paradigm, model, spec=settings.paradigm, model_name=condition_state.model_name)
        runs.append(_ConditionRun(condition, condition_state, model, paradigm))
    if reuse:
        log.info("%d of %d conditions already tested with these parameters (kept)", len(conditions) - len(runs), len(conditions))
        if not runs:
            return [None] * len(conditions)
    loader = eval_loader(state, dataset, batch_size=first.batch_size, limit=first.limit_images, resolution=resolution)
    if first.limit_images is not None:
        log.warning("testing only the first %d images of %s (limit_images)", first.limit_images, dataset)
    n_total = loader.n_samples
    progress = CountProgress(n_total, label="test")  # a line in the log at each 10% of the images
    n_seen = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        for run in runs:
            run.open(stack, n_total)
        for images, labels in loader:
            for run in runs:
                run.feed(images, labels, n_seen)
            n_seen += len(labels)
            progress.update(n_seen)
        if n_seen == 0:
            raise ValueError(f"the test set {str(dataset)!r} has no images; nothing was tested.")
        for run in runs:
            run.close()
    summaries: dict[int, dict[str, Any]] = {}
    for run in runs:
        summaries[id(run.condition)] = run.summary(n_seen)
        if run.condition.table is not None:
            from .tables import write_responses_table

            write_responses_table(run.condition.responses, run.condition.table)
        # The provenance last: a condition whose record is there has all its files (see reusable).
        run.record(state_path, dataset, resolution, data_name)
    return [summaries.get(id(condition)) for condition in conditions]


#: Parameters that do not change a test's results (left out when a pass compares provenance before reusing).
_RESULT_NEUTRAL = ("threads",)


def reusable(
    condition: TestCondition,
    parameters: Mapping[str, Any],
    state_path: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
) -> bool:
    """Whether a condition's results can be kept: its outputs, responses (and tidy table, when asked for) and its
    provenance exist, none is older than the state, the provenance records these ``parameters`` (but for
    :data:`_RESULT_NEUTRAL`), inputs and package versions, and the files are whole (tables not cut short, the
    responses file readable): a damaged file is tested again, not reused."""
    from dynvision_analysis.io import csv_problem

    from ..config import ConfigError, load_yaml, plain
    from ..paths import RESOLVED_CONFIG_SUFFIX
    from .provenance import package_versions

    record_path = condition.outputs.with_name(condition.outputs.name + RESOLVED_CONFIG_SUFFIX)
    files = [condition.outputs, condition.responses, record_path]
    files += [condition.table] if condition.table is not None else []
    try:
        oldest = min(path.stat().st_mtime for path in files)
        if oldest < Path(state_path).stat().st_mtime:
            return False
        record = load_yaml(record_path)
    except (OSError, ConfigError):
        return False

    def results(values: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in plain(dict(values)).items() if key not in _RESULT_NEUTRAL}

    if not (
        results(record.get("parameters") or {}) == results(parameters)
        and record.get("inputs") == {"state": str(state_path), "dataset": str(dataset)}
        and record.get("versions") == package_versions()
    ):
        return False
    tables = [condition.outputs] + ([condition.table] if condition.table is not None else [])
    if any(csv_problem(table, final_newline=True) is not None for table in tables):
        return False
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(condition.responses), framework="numpy") as handle:
            handle.keys()
    except (SafetensorError, OSError, ValueError):
        return False
    return True


def _check_shared_loader(conditions: Sequence[TestCondition]) -> None:
    first = conditions[0].settings
    for condition in conditions[1:]:
        for name in _LOADER_OPTIONS:
            if getattr(condition.settings, name) != getattr(first, name):
                raise ValueError(
                    f"the conditions of one test pass share the test images: {name} is "
                    f"{getattr(first, name)!r} for {first.paradigm!r} but {getattr(condition.settings, name)!r} "
                    f"for {condition.settings.paradigm!r}; test them separately (dynvision test)."
                )


#: Test options that decide which images are shown and how they are read (shared by the conditions of one pass).
_LOADER_OPTIONS = ("batch_size", "limit_images", "image_resolution", "threads")


class _ConditionRun:
    """The results of one condition as the images stream through: its outputs table and responses file."""

    def __init__(self, condition: TestCondition, state: ModelState, model: Any, paradigm: Any) -> None:
        from .tables import paradigm_columns

        self.condition, self.state, self.model, self.paradigm = condition, state, model, paradigm
        self.constants = paradigm_columns(paradigm)
        self.dt = _step_duration_ms(model)
        self.stream: SafetensorsStream | None = None
        self.stimulus = self.time_ms = self.correct_per_step = self.time_text = None

    def open(self, stack: contextlib.ExitStack, n_total: int) -> None:
        """Open the condition's two outputs (temporaries renamed onto their final names when the pass ends)."""
        self.n_total = n_total
        self.table_file = stack.enter_context(atomic_path(self.condition.outputs))
        self.handle = stack.enter_context(self.table_file.open("w"))
        self.responses_file = stack.enter_context(atomic_path(self.condition.responses))
        stack.callback(self._abort_unclosed)

    def _abort_unclosed(self) -> None:
        if self.stream is not None and not getattr(self, "_closed", False):
            self.stream.abort()

    def feed(self, images: Any, labels: Any, n_seen: int) -> None:
        """Show one batch under the condition's paradigm and write its rows."""
        import numpy as np
        import pandas as pd
        import torch

        from .tables import OPTIONAL_OUTPUT_COLUMNS, OUTPUT_COLUMNS

        settings = self.condition.settings
        frames, _, on = self.paradigm(images, labels, lazy=True)  # a timeline where there are blanks
        unit = settings.response_resolution == "unit"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype_policy(settings.precision).autocast is not None):
            logits, activity = self.model.forward_intermediates(frames, reduce=None if unit else _unit_moments)
        batch, steps = logits.shape[:2]
        probabilities = logits.float().softmax(dim=-1)
        confidence, guess = probabilities.max(dim=-1)
        if self.stream is None:
            self.stimulus = on.to(torch.uint8).cpu().numpy()
            self.time_ms = (np.arange(steps, dtype=np.float32) * self.dt).astype(np.float32)
            self.correct_per_step = np.zeros(steps, dtype=np.int64)
            metadata = {
                "resolution": settings.response_resolution,
                "dt": self.dt,
                "paradigm": settings.paradigm,
                "model_name": self.state.model_name,
                "n_samples": self.n_total,
                "areas": list(activity),
            }
            self.stream = _open_stream(
                self.responses_file, activity, self.n_total, steps, settings.response_resolution, metadata
            )
            self.stream.write("time_ms", 0, self.time_ms)
            self.stream.write("stimulus", 0, self.stimulus)
        truth = labels.view(-1, 1).expand(batch, steps)
        # Rank of the true class by classifier output (0 = the guess is right; ties favour the label), so
        # top-k accuracy is label_rank < k without storing every logit.
        label_rank = (logits > logits.gather(-1, truth.unsqueeze(-1))).sum(dim=-1)
        correct = (guess == truth).cpu().numpy()
        confidence = confidence.cpu().numpy()
        reaction_ms = self._reaction_times(confidence, settings.reaction_threshold)
        self.correct_per_step += correct.sum(axis=0)
        if self.time_text is None:
            # Columns that repeat per step or per file are formatted once (formatting is most of a CSV's cost).
            self.time_text = np.array(_csv_floats(self.time_ms), dtype=object)
            self.constant_text = {
                column: _csv_floats([value])[0] if isinstance(value, float) else value
                for column, value in self.constants.items()
            }
        table = pd.DataFrame(
            {
                "sample": np.repeat(np.arange(n_seen, n_seen + batch), steps),
                "step": np.tile(np.arange(steps), batch),
                "time_ms": np.tile(self.time_text, batch),
                "label": truth.reshape(-1).cpu().numpy(),
                "guess": guess.reshape(-1).cpu().numpy(),
                "correct": correct.reshape(-1).astype(np.int8),
                "confidence": _csv_floats(confidence.reshape(-1)),
                "label_rank": label_rank.reshape(-1).to(torch.int32).cpu().numpy(),
                "stimulus": np.tile(self.stimulus, batch),
                "reaction_time_ms": np.repeat(_csv_floats(reaction_ms), steps),
            },
            columns=OUTPUT_COLUMNS + OPTIONAL_OUTPUT_COLUMNS,
        )
        for column, value in self.constant_text.items():
            table[column] = value
        table.to_csv(self.handle, header=n_seen == 0, index=False, float_format=_CSV_FLOAT)
        self.stream.write("sample", n_seen, np.arange(n_seen, n_seen + batch, dtype=np.int64))
        for area, rates in activity.items():
            if unit:
                self.stream.write(area, n_seen, rates.to(torch.float16).cpu().numpy())
            else:
                moments = rates.cpu().numpy()
                self.stream.write(f"{area}.mean", n_seen, moments[..., 0])
                self.stream.write(f"{area}.std", n_seen, moments[..., 1])

    def _reaction_times(self, confidence: Any, threshold: float) -> Any:
        """Reaction time (ms from the stimulus onset) of each image of a batch, ``confidence`` ``(B, T)``; NaN where
        the confidence never reaches ``threshold`` or the paradigm shows no stimulus
        (:func:`dynvision_analysis.measures.decision_steps`)."""
        import numpy as np

        from dynvision_analysis.measures import decision_steps

        shown = np.flatnonzero(self.stimulus)
        if not len(shown):
            return np.full(len(confidence), np.nan)
        steps = decision_steps(confidence, int(shown[0]), threshold)
        return np.where(steps >= 0, self.time_ms[steps] - self.time_ms[shown[0]], np.nan)

    def close(self) -> None:
        assert self.stream is not None
        self.stream.close()
        self._closed = True

    def summary(self, n_seen: int) -> dict[str, Any]:
        assert self.correct_per_step is not None and self.stimulus is not None
        accuracy = (self.correct_per_step / n_seen).tolist()
        on_steps = [step for step, value in enumerate(self.stimulus) if value]
        summary = {
            "n_samples": n_seen,
            "accuracy_per_step": accuracy,
            "accuracy_end_of_stimulus": accuracy[on_steps[-1]] if on_steps else None,
        }
        log.info(
            "%s: tested %d images; accuracy at the end of the stimulus: %s",
            self.condition.settings.paradigm, n_seen, summary["accuracy_end_of_stimulus"],
        )
        return summary

    def record(
        self, state_path: str | os.PathLike[str], dataset: str | os.PathLike[str], resolution: int | None,
        data_name: str | None,
    ) -> None:
        """Write the condition's provenance beside its outputs table (``test_outputs.csv.config.yaml``)."""
        settings = self.condition.settings
        write_resolved_config(
            self.condition.outputs,
            command="dynvision test",
            parameters=test_parameters(self.state, settings, resolution),
            sources=resolution_sources(
                settings.sources(self.condition.given, data_name=data_name), settings.image_resolution, resolution
            ),
            seed=self.state.meta.get("seed"),
            inputs={"state": str(state_path), "dataset": str(dataset)},
        )


def eval_loader(
    state: ModelState, dataset: str | os.PathLike[str], *, batch_size: int, limit: int | None, resolution: int | None
) -> Any:
    """The test images of ``dataset`` as the model of ``state`` sees them: its training classes' indices and its
    training data's normalisation (``dynvision_data.make_eval_loader``; ``limit``: a seeded subset in stored order)."""
    from dynvision_data import Stats, make_eval_loader

    return make_eval_loader(
        dataset,
        classes=state.data["classes"],
        stats=Stats(tuple(state.data["mean"]), tuple(state.data["std"]), int(state.data.get("count", 0))),
        batch_size=batch_size,
        limit=limit,
        resolution=resolution,
    )


def test_parameters(state: ModelState, settings: TestSettings, resolution: int | None) -> dict[str, Any]:
    """The parameters a test's provenance records (and a later pass compares before reusing its results)."""
    return {
        "model_name": state.model_name,
        "model_kwargs": state.model_kwargs,
        **dataclasses.asdict(settings),
        "image_resolution": resolution,
    }


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


#: How the outputs table writes its floats (6 significant digits; a NaN is an empty field, as pandas writes it).
_CSV_FLOAT = "%.6g"


def _csv_floats(values: Any) -> list[str]:
    """``values`` (an array or a sequence of floats) as the text the outputs table holds, exactly what
    ``DataFrame.to_csv(float_format=_CSV_FLOAT)`` writes, at a fraction of its per-cell cost."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return ["" if value != value else _CSV_FLOAT % value for value in items]


def _unit_moments(rate: Any) -> Any:
    """Mean and population standard deviation of one step's rate ``(B, C, H, W)`` over its units: ``(B, 2)``.

    Two passes over each sample's units seen as one flat row (a view for the engine's channels-last rates, whose
    units are contiguous in (H, W, C) order): 15x faster on CPU than ``torch.std_mean`` over ``dim=(1, 2, 3)``,
    whose single-pass kernel dominated a layer-resolution test (2.6 s of 9 s for the duration experiment).
    """
    import torch

    units = rate.float()
    if units.is_contiguous(memory_format=torch.channels_last):
        units = units.permute(0, 2, 3, 1)
    units = units.reshape(units.shape[0], -1)
    mean = units.mean(dim=1, keepdim=True)
    std = (units - mean).square_().mean(dim=1).sqrt_()
    return torch.stack((mean.squeeze(1), std), dim=1)


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
