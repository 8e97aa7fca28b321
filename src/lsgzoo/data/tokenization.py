"""Tokenizers trained locally with `tokenizers`, wrapped as transformers fast tokenizers.

BART's special tokens and ids are kept: <s>=0, <pad>=1, </s>=2, <unk>=3, <mask> last.
`word` is a whitespace word-level vocabulary (synthetic tasks); `bpe` is byte-level BPE
(real text, like BART's own).
"""

from collections.abc import Iterable, Iterator

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK_TOKEN = "<mask>"
TOKENIZER_KINDS = ("word", "bpe")


def train_tokenizer(texts: Iterable[str], kind: str = "bpe", vocab_size: int = 8192, show_progress: bool = False):
    """Train a tokenizer on `texts` → `PreTrainedTokenizerFast` with BART's special tokens.

    The post-processor wraps every encoded text as `<s> ... </s>`, as BART's does.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"tokenizer kind={kind!r} is unknown; choose one of {', '.join(TOKENIZER_KINDS)}")
    specials = SPECIAL_TOKENS + [MASK_TOKEN]
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=specials,
                                            show_progress=show_progress)
    else:
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=show_progress,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(_batched(texts), trainer=trainer)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        mask_token=MASK_TOKEN, cls_token="<s>", sep_token="</s>", model_max_length=1_000_000,
    )


def _batched(texts: Iterable[str], size: int = 1000) -> Iterator[list[str]]:
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
