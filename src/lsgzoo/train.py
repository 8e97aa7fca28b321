"""`python -m lsgzoo.train [overrides]`: train and evaluate an LSG-BART (Hydra entry point).

Examples:
  python -m lsgzoo.train                                   # the embedded synthetic default
  python -m lsgzoo.train attention.sparsity_type=none       # local + global only
  python -m lsgzoo.train data=aclsum model=pretrained model.name_or_path=PATH
  python -m lsgzoo.train -m attention.sparsity_type=norm,pooling attention.block_size=16,32
  python -m lsgzoo.train --help                            # config groups and the composed config
Heavy libraries (Lightning, transformers) load only once a run starts.
"""

import sys

import hydra

from lsgzoo.training.checkpoints import RunDirError, check_run_dir_writable
from lsgzoo.training.config import CONFIG_DIR, register_schemas

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
    return run_training(cfg, hydra_cfg.runtime.output_dir, list(hydra_cfg.overrides.task))


def fail_early_on_an_unwritable_run_dir(argv: list[str]) -> None:
    """Exit with a clear message when `hydra.run.dir=` names a dir this process cannot write.

    Hydra opens its log file there before any lsgzoo code runs, and only says "Unable to configure
    handler 'file'"; the run itself checks again (`lsgzoo.training.checkpoints.check_run_dir_writable`).
    """
    if "-m" in argv or "--multirun" in argv:
        return
    for argument in argv:
        if argument.startswith("hydra.run.dir="):
            try:
                check_run_dir_writable(argument.split("=", 1)[1])
            except RunDirError as error:
                sys.exit(f"lsgzoo: {error}")


if __name__ == "__main__":
    fail_early_on_an_unwritable_run_dir(sys.argv[1:])
    main()
