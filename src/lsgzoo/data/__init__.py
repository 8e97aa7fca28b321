"""Data for training: text sources (synthetic, aclsum, any `datasets` dataset or local files), the
long-range task suite (`lsgzoo.data.tasks`), locally trained tokenizers, and the Lightning data module
that tokenizes and batches them.

Every source yields records with a `source` text column and a `target` text (seq2seq) or
integer `label` (classification) column.
"""
