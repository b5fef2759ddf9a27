"""Weights of the second-stage model, in knowledge.rerank.FEATURES order.

Written by `bench/faq_accuracy.py --train` (logistic regression on the dev data, all splits,
L2 3.0); do not edit by hand.
"""

WEIGHTS: tuple[float, ...] = (
    -7.384023,  # bias,
     8.698859,  # score,
    -0.468622,  # gap_to_best,
    -1.128311,  # margin,
     0.464923,  # inv_rank,
    -0.308632,  # bm25_words,
    -0.848643,  # bm25_chars,
     1.439326,  # bm25_words_rel,
     1.435926,  # bm25_chars_rel,
    -1.049209,  # coverage,
     1.253480,  # precision,
     2.572529,  # ratio,
    -0.012497,  # exact,
    -0.026275,  # type_agree,
     0.002348,  # type_conflict,
     0.058192,  # type_missing,
     0.386959,  # standard_type_agree,
     0.639158,  # negation_agree,
     4.415955,  # entry_bm25_chars,
)
