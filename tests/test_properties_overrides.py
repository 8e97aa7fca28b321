"""Property: any set of Hydra overrides over the attention, data and trainer keys either composes, validates
and (for a few examples) trains one step with a record that says what ran, or fails with a one-line user
error naming the key.

User errors: `ConfigError` / `DataError` (the entry point prints them as one line, exit 2; their message starts
with the key), or, for a value of the wrong type, Hydra's own composition error naming the key
(`training.config`: "a wrong type fails at composition naming the key"). Anything else — a crash from
Lightning, the tokenizer, a kernel — is a bug.
"""

import re

import pytest
from hydra.errors import ConfigCompositionException
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from lsgzoo.data.checks import DataError
from lsgzoo.training.config import ConfigError, attention_settings, compose_config
from lsgzoo.training.rundir import read_summary

# A synthetic run of 8 documents of 64 tokens: tokenizer, model and one step in well under a second.
FAST = ["logger=csv", "test_after_training=false", "trainer.max_steps=1", "trainer.val_check_interval=1",
        "trainer.log_every_n_steps=1", "trainer.enable_progress_bar=false", "optim.warmup_steps=0",
        "data.source.length=62", "data.max_source_length=64", "data.source.num_pairs=1", "data.source.num_decoys=1",
        "data.source.min_distance=4", "data.source.max_distance=8", "data.source.span=2", "data.source.num_train=8",
        "data.source.num_validation=4", "data.source.num_test=4", "data.batch_size=4", "data.eval_batch_size=4",
        "attention.block_size=8", "attention.sparse_block_size=8", "data.generation.max_new_tokens=4"]

BAD = ["abc", "null", "-1", "0", "1.5", "[]", "true"]  # any key may get one of these
VALUES = {
    "attention.sparsity_type": ["none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling",
                                "bos_pooling_masked", "nonexistent"],
    "attention.block_size": ["4", "8", "16", "3", "32"],
    "attention.sparse_block_size": ["0", "4", "8", "16", "5"],
    "attention.sparsity_factor": ["1", "2", "4", "8", "3"],
    "attention.num_global_tokens": ["1", "2", "513"],
    "attention.lsh_num_pre_rounds": ["0", "2"],
    "attention.mask_first_token": ["true", "false"],
    "attention.pool_with_global": ["true", "false"],
    "attention.adaptive": ["true", "false"],
    "attention.pass_global_tokens_to_decoder": ["true", "false"],
    "attention.lsg_backend": ["auto", "eager", "sdpa", "fused", "flex", "cuda"],
    "data.batch_size": ["1", "2", "8", "9"],
    "data.eval_batch_size": ["1", "3", "8"],
    "data.max_source_length": ["32", "48", "64", "128", "60"],
    "data.max_target_length": ["1", "2", "4", "8", "600"],
    "data.source.num_train": ["1", "4", "8"],
    "data.source.num_validation": ["1", "4"],
    "data.source.span": ["1", "2", "4"],
    "data.source.num_decoys": ["0", "1", "2"],
    "data.num_workers": ["0", "-1"],
    "data.metrics": ["[]", "[answer_accuracy]", "[exact_match]", "[bogus]"],
    "data.monitor": ["val/loss", "val/answer_accuracy", "val/bogus", "loss"],
    "data.monitor_mode": ["min", "max", "mean"],
    "data.generation.max_new_tokens": ["1", "4", "64", "65"],
    "data.generation.num_beams": ["1", "2"],
    "trainer.max_steps": ["1", "2", "-1"],
    "trainer.max_epochs": ["-1", "1"],
    "trainer.val_check_interval": ["1", "2", "0.5", "5", "0"],
    "trainer.check_val_every_n_epoch": ["null", "1"],
    "trainer.log_every_n_steps": ["1", "50"],
    "trainer.accumulate_grad_batches": ["1", "2", "0"],
    "trainer.gradient_clip_val": ["0.0", "1.0", "null"],
    "trainer.precision": ["32-true", "bf16-mixed", "64-true", "16-mixed", "32"],
}
KEYS = sorted(VALUES)


@st.composite
def override_sets(draw, max_keys: int = 4, bad: bool = True):
    """Overrides of up to `max_keys` distinct keys (after `FAST`, so they win): each a value from `VALUES`, or
    (when `bad`) sometimes one of `BAD`."""
    keys = sorted(draw(st.sets(st.sampled_from(KEYS), min_size=1, max_size=max_keys)))
    choices = lambda key: st.sampled_from(VALUES[key] + (BAD if bad else []))  # noqa: E731
    return [f"{key}={draw(choices(key))}" for key in keys]


def user_error_key(error: Exception, overrides: list[str]) -> str:
    """The key a user error names; fails the test unless it is a one-line user error naming a key."""
    text = str(error)
    if isinstance(error, ConfigCompositionException):  # wrong type or unparsable value: Hydra names the override
        named = [o.split("=")[0] for o in overrides if o.split("=")[0] in text]
        assert named, f"Hydra's error names none of {overrides}: {text}"
        return named[0]
    assert "\n" not in text, f"a user error is one line: {text!r}"
    match = re.match(r"(attention|data|trainer|model|optim|checkpoint)(\.\w+)*\b", text)
    assert match, f"the error does not start with the key: {text}"
    return match.group(0)


def compose_or_refuse(overrides: list[str]):
    """The validated config, or None once the refusal is checked to be a user error naming a key."""
    try:
        return compose_config(FAST + overrides)
    except (ConfigError, DataError, ConfigCompositionException) as error:
        event(f"refused: {user_error_key(error, overrides)}")
        return None


@given(override_sets())
@example(["data.metrics=-1"])  # found by hypothesis: TypeErrors from validate_config
@example(["trainer.max_steps=abc"])
@example(["data.generation.max_new_tokens=abc"])
# found by probing the trainer keys after hypothesis's first run: crashes inside Lightning or the DataLoader
@example(["trainer.val_check_interval=0"])  # ZeroDivisionError in the fit loop
@example(["trainer.val_check_interval=0.5"])  # MisconfigurationException (needs check_val_every_n_epoch)
@example(["trainer.accumulate_grad_batches=0"])  # ZeroDivisionError
@example(["trainer.precision=abc"])  # ValueError from Lightning's connector
@example(["data.num_workers=-1"])  # ValueError from the DataLoader
def test_random_overrides_validate_or_are_refused_naming_the_key(overrides):
    cfg = compose_or_refuse(overrides)
    if cfg is not None:
        event("valid")
        assert attention_settings(cfg)["block_size"] >= 1


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=settings.default.max_examples // 2,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(overrides=override_sets(max_keys=3, bad=False))
def test_random_overrides_train_one_step_recording_what_ran_or_fail_as_user_errors(overrides, tmp_path_factory):
    from lsgzoo.training.run import run_training

    cfg = compose_or_refuse(overrides)
    if cfg is None:
        return
    run_dir = tmp_path_factory.mktemp("run")
    try:
        run_training(cfg, run_dir, FAST + overrides)
    except (ConfigError, DataError) as error:
        event(f"failed: {user_error_key(error, overrides)}")
        summary = read_summary(run_dir)
        assert summary["status"] == "failed" and summary["error"].endswith(str(error))
        return
    event("trained")
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] >= 1
    assert summary["attention"] == attention_settings(cfg)
