"""`python -m lsgzoo.eval ckpt=<run dir or .ckpt> [overrides]`: evaluate a trained run's model (Hydra entry point).

Examples:
  python -m lsgzoo.eval ckpt=outputs/2026-01-01/12-00-00                    # the run's own settings, validation
  python -m lsgzoo.eval ckpt=RUN attention.sparsity_type=norm attention.sparsity_factor=8
  python -m lsgzoo.eval ckpt=RUN attention_mode=full split=test
  python -m lsgzoo.eval ckpt=RUN data.max_source_length=512                 # 2x longer documents, positions tiled
  python -m lsgzoo.eval ckpt=RUN attention.sparsity_type=lsh finetune.steps=100 seed=1
  python -m lsgzoo.eval -m ckpt=RUN attention.sparsity_type=norm,pooling attention.sparsity_factor=2,8
  lsgzoo report multirun/eval/<date>/<time>                                # eval records read like training runs

The evaluated config is the run's own, changed by these overrides (`lsgzoo.training.evaluate`). A user error
(`ConfigError`: no checkpoint, a task the tokenizer does not know, a length beyond the positions, an unknown
attention key; `DataError`: a data file or setting the data cannot honour) prints one line, `lsgzoo.eval: error: ...`, and exits with status 2; in a multirun the job is
recorded as failed and the others run.
"""

import difflib
import sys
from pathlib import Path

import hydra

from lsgzoo.attention.keys import LSG_KEYS
from lsgzoo.train import USER_ERROR_STATUS, USER_ERRORS, exit_on_user_error, fail_early_on_an_unwritable_run_dir
from lsgzoo.training.config import CONFIG_DIR, register_schemas

PROGRAM = "lsgzoo.eval"

register_schemas()


@hydra.main(config_path=str(CONFIG_DIR), config_name="eval", version_base="1.3")
def main(cfg) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from lsgzoo.training.evaluate import run_evaluation

    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    try:
        return run_evaluation(cfg, run_dir, list(hydra_cfg.overrides.task))
    except USER_ERRORS as error:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise
        exit_on_user_error(error, Path(run_dir), PROGRAM)


def unknown_attention_key(argv: list[str]) -> str | None:
    """The message for the first `attention.<key>=` argument whose key is no LSG key (None when all are)."""
    for argument in argv:
        key = argument.split("=", 1)[0].lstrip("+~")
        if "=" in argument and key.startswith("attention."):
            name = key.split(".", 1)[1]
            if name not in LSG_KEYS:
                close = difflib.get_close_matches(name, LSG_KEYS, n=1)
                hint = f"did you mean attention.{close[0]}?" if close else f"the keys are {', '.join(LSG_KEYS)}"
                return f"{key}: not an attention key; {hint}"
    return None


if __name__ == "__main__":
    fail_early_on_an_unwritable_run_dir(sys.argv[1:])
    message = unknown_attention_key(sys.argv[1:])
    if message:
        sys.stderr.write(f"{PROGRAM}: error: {message}\n")
        raise SystemExit(USER_ERROR_STATUS)
    main()
