"""The long-range task suite: every generator's answer recomputed from its text, the evidence beyond
local reach where that is the point, every config composing, attention=full really full, short runs."""

import re
from collections import Counter

import pytest
import torch
from hydra.utils import instantiate

from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.lsg import LSGAttention
from lsgzoo.attention.pattern import attention_pattern
from lsgzoo.data.tasks import AclSumNeedleTask, AssociativeRecallTask, ListOpsTask, MajorityTask
from lsgzoo.training.config import attention_settings, compose_config
from test_synthetic import stacked_connectivity

SUITE = ["linked_pairs", "mqar", "majority", "listops", "aclsum_needle"]
GENERATED = ["mqar", "majority", "listops", "aclsum_needle"]
NEEDS_ACLSUM = {"aclsum_needle"}


def skip_without_data(name: str) -> None:
    if name in NEEDS_ACLSUM:
        pytest.importorskip("aclsum")


def default_source(name: str, overrides: tuple[str, ...] = ()):
    """The source `conf/data/<name>.yaml` builds (no documents are generated until load())."""
    return instantiate(compose_config([f"data={name}", *overrides]).data.source)


def local_reach(cfg) -> int:
    """Largest token distance information travels through the encoder with local attention only (globals excluded)."""
    stacked = stacked_connectivity(cfg.attention, "none", cfg.data.max_source_length, cfg.model.encoder_layers)
    queries, keys = torch.nonzero(stacked, as_tuple=True)
    return int((queries - keys).abs().max())


# --- configs and the shared source -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SUITE)
def test_every_task_config_composes_validates_and_matches_its_records(name):
    skip_without_data(name)
    cfg = compose_config([f"data={name}"])
    assert cfg.data.name == name
    source = instantiate(cfg.data.source)
    task = source.task.for_split("train") if hasattr(source.task, "for_split") else source.task  # linked_pairs
    record = task.example(0, 0)
    assert len(record["source"].split()) + 2 <= cfg.data.max_source_length  # <s> ... </s>
    if cfg.data.task == "classification":
        assert "label" in record and cfg.data.monitor == "val/accuracy" and list(cfg.data.metrics) == []
        assert 0 <= record["label"] < source.task.num_labels
    else:
        assert "target" in record and cfg.data.monitor == "val/answer_accuracy"
        assert len(cfg.data.generation) and "answer_accuracy" in cfg.data.metrics


def test_linked_pairs_is_the_synthetic_task_under_its_suite_name():
    synthetic, linked = compose_config(["data=synthetic"]).data, compose_config(["data=linked_pairs"]).data
    assert linked.name == "linked_pairs"
    assert {**synthetic, "name": None} == {**linked, "name": None}


@pytest.mark.parametrize("name", GENERATED)
def test_examples_are_deterministic_and_distinct(name):
    skip_without_data(name)
    task = default_source(name).task.for_split("train")
    assert task.example(0, 5) == task.example(0, 5)
    assert task.example(0, 5) != task.example(0, 6)
    assert task.example(0, 5) != task.example(1, 5)


@pytest.mark.parametrize("name", GENERATED)
def test_source_splits_are_disjoint_and_labels_are_class_labels(name):
    skip_without_data(name)
    source = default_source(name, ("data.source.num_train=6", "data.source.num_validation=3",
                                   "data.source.num_test=3", "seed=4"))
    data = source.load()
    assert {split: len(rows) for split, rows in data.items()} == {"train": 6, "validation": 3, "test": 3}
    texts = [set(data[split]["source"]) for split in data]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert data["train"][0]["source"] == source.task.for_split("train").example(3 * 4, 0)["source"]
    if source.task.num_labels:
        from lsgzoo.training.run import label_count

        assert label_count(data["train"]) == source.task.num_labels  # not max(label) + 1 of a small split
    assert set(source.tokenizer_corpus()[0].split()) >= set(source.task.vocabulary())


# --- mqar ------------------------------------------------------------------------------------------------------

def parse_mqar(source: str) -> tuple[dict, list[str], list[str], int]:
    """(key → (value, key position), queried keys, document words, position of the first query)."""
    words = source.split()
    separator = words.index("?")
    pairs = {}
    for position, word in enumerate(words[:separator]):
        if word.startswith("k"):
            assert word not in pairs, f"key {word} bound twice"
            assert words[position + 1].startswith("v"), "a key must be followed by its value"
            pairs[word] = (words[position + 1], position)
    return pairs, words[separator + 1:], words, separator + 1


def test_mqar_target_is_the_values_of_the_queried_keys():
    task = default_source("mqar").task
    for index in range(100):
        example = task.example(2, index)
        pairs, queries, words, first_query = parse_mqar(example["source"])
        assert len(words) == task.length and len(pairs) == task.num_pairs and len(queries) == task.num_queries
        assert len(set(queries)) == len(queries) and len({v for v, _ in pairs.values()}) == task.num_pairs
        assert example["target"].split() == [pairs[key][0] for key in queries]
        assert all(first_query - pairs[key][1] >= task.min_distance for key in queries)
        assert sum(w.startswith("v") for w in words) == task.num_pairs  # no stray values


def test_mqar_single_query_is_a_classification_record_and_max_distance_bounds_the_pairs():
    task = AssociativeRecallTask(num_queries=1, max_distance=150)
    assert task.num_labels == task.value_vocab and AssociativeRecallTask().num_labels is None
    for index in range(50):
        example = task.example(0, index)
        pairs, queries, _, first_query = parse_mqar(example["source"])
        assert example["label"] == int(pairs[queries[0]][0][1:])
        assert all(task.min_distance <= first_query - position <= 150 for _, position in pairs.values())


# --- majority --------------------------------------------------------------------------------------------------

def test_majority_label_is_the_most_frequent_symbol_by_exactly_the_margin():
    task = default_source("majority").task
    labels = []
    for index in range(200):
        example = task.example(1, index)
        counts = Counter(example["source"].split())
        assert sum(counts.values()) == task.length and len(counts) == task.num_symbols
        (winner, top), (_, second) = counts.most_common(2)
        assert top - second == task.margin
        assert example["target"] == winner and example["label"] == int(winner[1:])
        labels.append(example["label"])
    assert min(Counter(labels).values()) > 200 / task.num_symbols / 2, "the winner should be near uniform"


@pytest.mark.parametrize("num_symbols,length,margin", [(2, 100, 10), (3, 101, 7), (5, 97, 3), (4, 510, 1)])
def test_majority_counts_add_up_for_awkward_sizes(num_symbols, length, margin):
    task = MajorityTask(length=length, num_symbols=num_symbols, margin=margin)
    for index in range(20):
        (_, top), (_, second) = Counter(task.example(0, index)["source"].split()).most_common(2)
        assert top - second == margin


# --- listops ---------------------------------------------------------------------------------------------------

def median_rounded_down(values: list[int]) -> int:
    ordered, middle = sorted(values), len(values) // 2
    return ordered[middle] if len(values) % 2 else (ordered[middle - 1] + ordered[middle]) // 2


LISTOPS = {"MAX": max, "MIN": min, "MED": median_rounded_down, "SUM_MOD": lambda values: sum(values) % 10}


def evaluate_listops(tokens: list[str]) -> tuple[int, int]:
    """(value, nesting depth) of a ListOps expression, by a stack machine independent of the generator."""
    stack, depth, result = [], 0, None
    for token in tokens:
        if token.startswith("["):
            stack.append((token[1:], []))
            depth = max(depth, len(stack))
        elif token == "]":
            operator, values = stack.pop()
            assert len(values) >= 2
            value = LISTOPS[operator](values)
            if stack:
                stack[-1][1].append(value)
            else:
                assert result is None, "more than one root list"
                result = value
        else:
            stack[-1][1].append(int(token))
    assert not stack and result is not None
    return result, depth


def test_listops_label_is_the_value_of_the_expression():
    task = default_source("listops").task
    labels = []
    for index in range(200):
        example = task.example(5, index)
        tokens = example["source"].split()
        value, depth = evaluate_listops(tokens)
        assert example["label"] == value and example["target"] == str(value)
        assert task.min_length <= len(tokens) <= task.length and depth <= task.max_depth
        assert tokens[0].startswith("[") and tokens[-1] == "]"
        labels.append(value)
    frequencies = Counter(labels)
    assert len(frequencies) == 10
    most_frequent = frequencies.most_common(1)[0][1] / len(labels)
    assert 0.1 < most_frequent < 0.3, f"the documented trivial baseline (≈ 15 %) is off: {most_frequent:.2f}"


def test_listops_answer_depends_on_digits_beyond_local_reach():
    """Changing one digit farther than the local reach from both ends of the expression changes the answer."""
    cfg = compose_config(["data=listops"])
    reach = local_reach(cfg)
    task = instantiate(cfg.data.source).task
    sensitive = 0
    for index in range(40):
        tokens = task.example(6, index)["source"].split()
        value, _ = evaluate_listops(tokens)
        far = [i for i, t in enumerate(tokens) if t.isdigit() and reach < i < len(tokens) - 1 - reach]
        sensitive += any(evaluate_listops(tokens[:i] + [str((int(tokens[i]) + d) % 10)] + tokens[i + 1:])[0] != value
                         for i in far for d in (1, 5))
    # MAX/MIN often absorb a one-digit change, so not every answer moves; about half do at the defaults
    assert sensitive >= 14, f"only {sensitive}/40 answers depend on a digit out of local reach ({reach})"


# --- aclsum_needle ---------------------------------------------------------------------------------------------

NEEDLE = re.compile(r"The passphrase of (vault\d+) is (pass\d+) \.")
QUESTION = re.compile(r"What is the passphrase of (vault\d+) \?$")


def test_aclsum_needle_answer_is_the_asked_needle_in_a_real_paper_window():
    pytest.importorskip("aclsum")
    from lsgzoo.data.tasks.aclsum_needle import paper_words

    task = default_source("aclsum_needle").task.for_split("validation")
    papers = [" ".join(words) for words in paper_words(None, "validation")]
    for index in range(30):
        example = task.example(0, index)
        source = example["source"]
        assert len(source.split()) == task.length
        needles = dict(NEEDLE.findall(source))
        assert len(needles) == task.num_needles == len(NEEDLE.findall(source))
        asked = QUESTION.search(source).group(1)
        assert example["target"] == needles[asked] and example["label"] == int(needles[asked][4:])
        question_start = len(source[: QUESTION.search(source).start()].split())
        for match in NEEDLE.finditer(source):
            needle_end = len(source[: match.end()].split())
            assert question_start - needle_end >= task.min_distance
        haystack = " ".join(NEEDLE.sub(" ", source[: QUESTION.search(source).start()]).split())
        assert any(haystack in paper for paper in papers), "the haystack is a window of a validation paper"


# --- the evidence is out of local reach ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mqar", "aclsum_needle"])
def test_retrieval_evidence_lies_beyond_the_local_reach_of_the_query(name):
    """The asked pair / every needle is farther from the query words than local-only layers connect."""
    skip_without_data(name)
    cfg = compose_config([f"data={name}"])
    reach = local_reach(cfg)
    assert reach < cfg.data.source.min_distance, f"{name}: min_distance is within local reach ({reach})"
    task = instantiate(cfg.data.source).task.for_split("train")
    for index in range(30):
        example = task.example(0, index)
        if name == "mqar":
            pairs, queries, _, first_query = parse_mqar(example["source"])
            distances = [first_query + q - pairs[key][1] - 1 for q, key in enumerate(queries)]  # query → its value
        else:
            source = example["source"]
            question_start = len(source[: QUESTION.search(source).start()].split())
            distances = [question_start - len(source[: m.end()].split()) for m in NEEDLE.finditer(source)]
        assert min(distances) > reach, (index, distances)


def test_majority_of_a_local_window_is_close_to_a_guess():
    cfg = compose_config(["data=majority"])
    reach = local_reach(cfg)
    task = instantiate(cfg.data.source).task
    agree = 0
    for index in range(200):
        example = task.example(9, index)
        window = Counter(example["source"].split()[-reach:])
        agree += window.most_common(1)[0][0] == example["target"]
    assert agree / 200 < 0.45, f"the last {reach} words reveal the majority {agree / 200:.0%} of the time"


# --- knob validation -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task_class,settings,match", [
    (AssociativeRecallTask, {"length": 100, "num_pairs": 20}, "length=100"),
    (AssociativeRecallTask, {"num_queries": 9}, "num_queries"),
    (AssociativeRecallTask, {"value_vocab": 4}, "value_vocab"),
    (AssociativeRecallTask, {"max_distance": 10}, "max_distance"),
    (MajorityTask, {"num_symbols": 2, "length": 101, "margin": 10}, "even"),
    (MajorityTask, {"margin": 0}, "margin"),
    (ListOpsTask, {"min_length": 600}, "min_length"),
    (ListOpsTask, {"max_depth": 1, "max_args": 5, "min_length": 10}, "max_depth"),
    (AclSumNeedleTask, {"length": 500, "min_distance": 512}, "length=500"),
    (AclSumNeedleTask, {"num_needles": 40}, "num_needles"),
])
def test_bad_knobs_fail_naming_the_key(task_class, settings, match):
    with pytest.raises(ValueError, match=match):
        task_class(**settings)


def test_listops_gives_up_with_a_clear_error_when_lengths_are_unreachable():
    task = ListOpsTask(length=510, min_length=500, max_depth=2, max_args=30, branch_probability=0.0, max_tries=5)
    with pytest.raises(ValueError, match="max_tries=5"):
        task.example(0, 0)


def test_aclsum_needle_length_longer_than_every_paper_fails_naming_length():
    pytest.importorskip("aclsum")
    with pytest.raises(ValueError, match="lower length"):
        AclSumNeedleTask(length=30_000, min_distance=100).example(0, 0)


# --- attention=full --------------------------------------------------------------------------------------------

def attention_config(cfg) -> LSGAttentionConfig:
    return LSGAttentionConfig(**attention_settings(cfg))


@pytest.mark.parametrize("name", ["mqar", "aclsum_needle"])
def test_attention_full_connects_every_position_and_lsg_none_does_not(name):
    full = compose_config([f"data={name}", "attention=full"])
    length = full.data.max_source_length
    assert full.attention.block_size == length
    assert bool(attention_pattern(attention_config(full), length).connectivity.all())
    local = compose_config([f"data={name}", "attention=lsg", "attention.sparsity_type=none"])
    assert not bool(attention_pattern(attention_config(local), length).connectivity.all())


def test_attention_full_computes_exact_softmax_attention():
    cfg = compose_config(["data=mqar", "attention=full"])
    length, heads, dh = cfg.data.max_source_length, 2, 8
    q, k, v = (torch.randn(1, heads, 1 + length, dh) for _ in range(3))
    out = LSGAttention(attention_config(cfg)).eval()(q, k, v)
    expected = torch.softmax(q @ k.transpose(-1, -2) / dh ** 0.5, dim=-1) @ v
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


# --- short end-to-end runs -------------------------------------------------------------------------------------

SHORT_RUN = ["data.max_source_length=128", "data.source.num_train=32", "data.source.num_validation=8",
             "data.source.num_test=8", "data.batch_size=8", "data.eval_batch_size=8", "attention.block_size=16",
             "attention.sparse_block_size=16", "trainer.max_steps=3", "trainer.val_check_interval=3",
             "trainer.log_every_n_steps=1", "optim.warmup_steps=0", "logger=csv", "num_threads=1",
             "checkpoint.every_n_train_steps=3"]


@pytest.mark.parametrize("name,overrides,metric", [
    ("majority", ["data.source.length=126", "data.source.margin=10"], "test/accuracy"),
    ("mqar", ["data.source.length=126", "data.source.min_distance=32"], "test/answer_accuracy"),
])
def test_short_training_run(tmp_path, name, overrides, metric):
    from lsgzoo.training.rundir import read_summary
    from lsgzoo.training.run import run_training

    everything = [f"data={name}", *SHORT_RUN, *overrides]
    run_training(compose_config(everything), tmp_path, everything)
    summary = read_summary(tmp_path)
    assert summary["status"] == "completed" and summary["global_step"] == 3 and summary["data"] == name
    assert metric in summary["metrics"]
    if name == "majority":
        import json

        assert len(json.loads((tmp_path / "model" / "config.json").read_text())["id2label"]) == 4
