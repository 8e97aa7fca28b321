"""`python -m lsgzoo.train [overrides]`: train and evaluate an LSG-BART (Hydra entry point).

Examples:
  python -m lsgzoo.train                                   # the embedded synthetic default
  python -m lsgzoo.train attention.sparsity_type=none       # local + global only
  python -m lsgzoo.train data=aclsum model=pretrained model.name_or_path=PATH
  python -m lsgzoo.train -m attention.sparsity_type=norm,pooling attention.block_size=16,32
  python -m lsgzoo.train --help                            # config groups and the composed config
Heavy libraries (Lightning, transformers) load only once a run starts.

A user error (`ConfigError`: a bad config value, resume=true without a checkpoint) prints one line,
`lsgzoo.train: error: ...`, and exits with status 2 (in a multirun, at the failing job); its traceback
is kept in the run dir's summary.json. Any other failure keeps Hydra's report and status 1.
"""

import sys
from pathlib import Path

import hydra

from lsgzoo.training.config import CONFIG_DIR, ConfigError, register_schemas

USER_ERROR_STATUS = 2

register_schemas()


@hydra.main(config_path=str(CONFIG_DIR), config_name="train", version_base="1.3")
def main(cfg) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from lsgzoo.training.run import run_training

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN and cfg.logger.group is None:
        with open_dict(cfg):  # one W&B group per sweep, so the UI compares its runs side by side
            cfg.logger.group = "sweep-" + "-".join(hydra_cfg.sweep.dir.split("/")[-2:])
    run_dir = hydra_cfg.runtime.output_dir
    try:
        return run_training(cfg, run_dir, list(hydra_cfg.overrides.task))
    except ConfigError as error:
        exit_on_user_error(error, Path(run_dir))


def exit_on_user_error(error: ConfigError, run_dir: Path) -> None:
    """Print the error as one line (where its traceback went included) and exit with status 2."""
    from lsgzoo.training.rundir import SUMMARY_FILE

    sys.stderr.write(f"lsgzoo.train: error: {error} (traceback in {run_dir / SUMMARY_FILE})\n")
    raise SystemExit(USER_ERROR_STATUS)


if __name__ == "__main__":
    main()
