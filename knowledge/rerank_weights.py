"""Weights of the second-stage model, in knowledge.rerank.FEATURES order.

Written by `bench/faq_accuracy.py --train` (logistic regression on the dev data, all splits,
L2 3.0); do not edit by hand.
"""

WEIGHTS: tuple[float, ...] = (
    -7.043222,  # bias,
     8.382680,  # score,
    -0.418436,  # gap_to_best,
    -1.022032,  # margin,
     0.450668,  # inv_rank,
    -1.003138,  # bm25_words,
    -0.588832,  # bm25_chars,
     1.102126,  # bm25_words_rel,
     1.567457,  # bm25_chars_rel,
    -2.220934,  # coverage,
    -0.245043,  # precision,
     2.343867,  # ratio,
     0.021939,  # exact,
    -0.169566,  # type_agree,
    -0.111195,  # type_conflict,
     0.320714,  # standard_type_agree,
     0.457057,  # negation_agree,
     3.042603,  # entry_bm25_chars,
     0.067347,  # closest_type_agree,
     0.272257,  # closest_type_conflict,
     0.134912,  # closest_negation_agree,
    -0.237050,  # problem_mismatch,
    -0.462861,  # when_mismatch,
    -0.528599,  # whether_mismatch,
     2.681762,  # entry_word_coverage,
     1.972106,  # standard_precision,
)
